"""The API's routes: thin handlers that validate input, check the key's scope and call the
services, the store or the dispatcher. Import the rest of recgen.api and the layers below."""
