"""The one-command demo on the embedded defaults and its HTML report. Imports runtime and
the layers below; never the API."""
