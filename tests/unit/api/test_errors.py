"""The last-resort handler: a bug answers the API's JSON error, not Starlette's text/plain."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from recgen.api.errors import install_error_handlers


def test_an_unhandled_exception_is_a_json_500() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/broken")
    def broken() -> None:
        raise RuntimeError("bug")

    # raise_server_exceptions=False: the response a client gets, not the re-raised traceback.
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/broken")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "internal_error"
