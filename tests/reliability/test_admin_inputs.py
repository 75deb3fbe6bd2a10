"""Admin inputs are validated at the boundary: an experiment's arm weights must be finite and
bounded, its salt printable and bounded; a refusal is a 422 naming the field, never a 500 and
never an experiment that puts every user in one arm.

Real API (the app as served) on its own PostgreSQL database and the shared Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from harness.world import api_settings, headers, purged, seeded_database
from recgen.api.app import create_app
from tests.conftest import PG_ADMIN_URL, REDIS_TEST_URL


@pytest.fixture(scope="module")
def admin_api() -> Iterator[TestClient]:
    with seeded_database(PG_ADMIN_URL) as db_url:
        prefix = "rel-admin-" + db_url.rsplit("_", 1)[1]
        settings = api_settings(db_url, REDIS_TEST_URL.rsplit("/", 1)[0], prefix,
                                redis_url=REDIS_TEST_URL)
        # raise_server_exceptions=False: a 500 must show up as the status a client sees.
        with purged(settings.redis_url, prefix), TestClient(
            create_app(settings), headers=headers("admin"), raise_server_exceptions=False
        ) as client:
            yield client


# (body fields, the loc the 422 must name). Each of these was a 201 or a 500 before.
REFUSED: list[tuple[dict[str, Any], str]] = [
    # The weights' sum overflowed to inf: every user hashed into one arm.
    ({"arms": {"stock": 1e308, "generated": 1e308}}, "body.arms.generated"),
    ({"arms": {"stock": 1.0, "generated": 1e7}}, "body.arms.generated"),
    ({"salt": "salt\x00with-nul"}, "body.salt"),  # PostgreSQL text holds no NUL: a 500
    ({"salt": "tab\tand\nnewline"}, "body.salt"),
    ({"salt": "s" * 65}, "body.salt"),
    ({"name": "nul\x00name"}, "body.name"),
]


@pytest.mark.parametrize(("fields", "loc"), REFUSED, ids=[loc for _, loc in REFUSED])
def test_bad_admin_input_is_a_422_naming_the_field(
    admin_api: TestClient, fields: dict[str, Any], loc: str
) -> None:
    body = {"name": f"bad-{abs(hash(loc)) % 10**6}", **fields}
    response = admin_api.post("/v1/experiments", json=body)
    assert response.status_code == 422, (response.status_code, response.text)
    assert loc in [d["loc"] for d in response.json()["error"]["details"]]


def test_bounded_weights_still_split_users_by_weight(admin_api: TestClient) -> None:
    # The largest allowed weights keep both arms reachable (what the bound is for).
    created = admin_api.post("/v1/experiments", json={
        "name": "bounded-weights", "salt": "bounded", "arms": {"stock": 1e6, "generated": 1e6}})
    assert created.status_code == 201, created.text
    experiment = created.json()["id"]
    assert admin_api.post(f"/v1/experiments/{experiment}/start").status_code == 200
    arms = {admin_api.get(f"/v1/experiments/{experiment}/assignments/{u}").json()["arm"]
            for u in range(1, 41)}
    admin_api.post(f"/v1/experiments/{experiment}/stop")
    assert arms == {"stock", "generated"}
