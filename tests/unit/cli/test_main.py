"""The ``recgen`` entry point as a user runs it, in a fresh interpreter: what a light command
imports, and how a mistyped option ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from recgen.core.config import PROJECT_ROOT

HEAVY = ("torch", "transformers", "faiss", "celery", "fastapi")
# main() as the console script calls it, then the exit code and the top-level modules loaded.
RUN_MAIN = """
import json, sys
from recgen.cli import main
sys.argv = ["recgen", *sys.argv[1:]]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": [m for m in sys.modules if "." not in m]}))
"""


def _recgen(args: list[str], env: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **env},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_db_upgrade_imports_no_models_celery_or_api(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    done = _recgen(["db", "upgrade"], {"RECGEN_DATABASE_URL": url}, RUN_MAIN)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["code"] == 0
    assert [m for m in HEAVY if m in report["modules"]] == []
    assert "database at revision" in done.stdout


def test_a_mistyped_option_prints_usage_and_exits_2() -> None:
    done = _recgen(["eval", "text", "--styls", "x"], {}, "from recgen.cli import main; main()")
    assert done.returncode == 2, done.stderr
    assert "Usage:" in done.stderr and "--styls" in done.stderr
    assert "Traceback" not in done.stderr
