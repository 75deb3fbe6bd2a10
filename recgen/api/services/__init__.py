"""The API's logic behind its thin routes: reading feeds, the dashboard's views. Imports the
layers below the API; never the routes."""
