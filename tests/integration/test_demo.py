"""The README's main job, end to end on the embedded defaults, at a small size."""

from __future__ import annotations

from pathlib import Path

import pytest

from recgen.core.config import load_settings
from recgen.core.errors import DataFileError
from recgen.demo.config import DemoConfig
from recgen.demo.run import run_demo

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _no_progress(_stage: str, _total: int):  # type: ignore[no-untyped-def]
    return lambda _n: None


def test_demo_runs_every_stage_and_writes_the_report(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECGEN_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("RECGEN_DATA_DIR", str(data_dir))
    config = DemoConfig(
        products=150, users=80, feed_users=4, report_users=2, personas=2, ab_users=2000
    )
    result = run_demo(load_settings(), config, _no_progress)

    figures = result.figures
    assert 100 <= figures["products"] <= 200
    assert figures["users"] == 80 and figures["events"] >= 80
    assert figures["feed_users"] == 4
    assert figures["feed_requested"] == 4 * 10 * 2  # users x feed size x (text, image)
    assert figures["feed_generated"] > 0
    assert figures["feed_failed"] == 0
    assert set(result.stage_seconds) == {
        "catalog",
        "users",
        "indexes",
        "feeds",
        "ab_test",
        "report",
    }
    page = result.report_path.read_text()
    assert result.report_path.parent == tmp_path / "demo"
    assert page.count("<h3>User ") == 2
    assert "data:image/png;base64," in page  # at least one generated image passed its gate
    assert "text gate: passed" in page
    assert "image taste: from history" in page  # photos embedded -> personalized images


def test_demo_without_data_says_where_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECGEN_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("RECGEN_DATA_DIR", str(tmp_path / "nothing"))
    with pytest.raises(DataFileError, match="RECGEN_DATA_DIR"):
        run_demo(load_settings(), DemoConfig(), _no_progress)
