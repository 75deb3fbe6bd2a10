"""What the app changes in its process while it serves, and gives back at shutdown."""

from __future__ import annotations

import sys

import pytest
from fastapi.testclient import TestClient

from recgen.api.app import Overrides, create_app
from recgen.core.config import Settings
from tests.support.api import RecordingDispatcher

pytestmark = pytest.mark.integration


def test_gil_switch_interval_is_the_setting_while_serving_and_restored_after(
    settings: Settings,
) -> None:
    before = sys.getswitchinterval()
    tuned = settings.model_copy(update={"api_gil_switch_interval_ms": 0.25})
    app = create_app(tuned, Overrides(dispatcher=RecordingDispatcher()))  # type: ignore[arg-type]
    with TestClient(app) as client:
        assert client.get("/health/live").status_code == 200
        assert sys.getswitchinterval() == pytest.approx(0.00025)
    assert sys.getswitchinterval() == pytest.approx(before)
    assert before != pytest.approx(0.00025)
