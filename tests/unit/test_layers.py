"""The package's layers (docs/architecture.md): each folder imports only from folders below it,
the models know nothing of storage or transport, and no modules import each other in a circle.

Read from the source with ``ast``, so a lazy import inside a function counts as much as one at
the top of a module (a cycle hidden behind lazy imports is still a cycle of responsibilities);
only imports under ``if TYPE_CHECKING:`` are left out of the cycle check (they never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Bottom to top. A layer may import itself and any layer listed before it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core", "client"),
    ("store",),
    ("catalog",),
    ("models",),
    ("retrieval",),
    ("profiles",),
    ("generation",),
    ("jobs",),
    ("experiments",),
    ("runtime",),
    ("api", "demo"),  # siblings: neither imports the other
    ("cli",),
)
# Below its rank, a layer may be narrower still.
ONLY: dict[str, set[str]] = {
    "client": set(),  # the HTTP client is shipped to backends: it imports nothing of recgen
    "models": {"core", "catalog"},  # no store, cache, Celery or FastAPI
}
THIRD_PARTY_BANNED: dict[str, set[str]] = {
    "models": {"celery", "fastapi", "sqlalchemy", "redis"},
}
# Between the store and the transport, the database is reached through the store's
# repositories only: nothing there builds a statement or runs one on a session. It may take
# the Session type (sqlalchemy.orm) and catch the database's errors (sqlalchemy.exc).
SQLALCHEMY_BEYOND_STORE = {"sqlalchemy.orm", "sqlalchemy.exc"}
SESSION_QUERIES = {"execute", "scalar", "scalars", "get", "query"}
# Between the top-level folders: the shipped code (recgen, workers) never imports the harness,
# the tests or the benchmarks; recgen never imports workers (the API enqueues by task name); the
# harness imports neither tests nor benchmarks; a benchmark never imports the tests (what both
# need lives in harness/).
FORBIDDEN_TOP_LEVEL: dict[str, set[str]] = {
    "recgen": {"workers", "harness", "tests", "bench"},
    "workers": {"harness", "tests", "bench"},
    "harness": {"tests", "bench"},
    "bench": {"tests"},
}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_blocks(tree: ast.Module) -> set[int]:
    """Ids of import nodes that sit under ``if TYPE_CHECKING:``."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            ids.update(id(child) for child in ast.walk(node))
    return ids


def imports_of(path: Path, module: str) -> Iterator[tuple[str, tuple[str, ...], int, bool]]:
    """(imported module, names taken from it, line, runs) for every import in the file;
    ``runs`` is False only under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    typing_only = _type_checking_blocks(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        runs = id(node) not in typing_only
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, (), node.lineno, runs
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, tuple(alias.name for alias in node.names), node.lineno, runs


def package_graph(root: Path, package: str) -> dict[str, list[tuple[str, int, bool]]]:
    """Module -> (module it imports, line, runs), within ``package``. ``from pkg import mod``
    is an edge to ``pkg.mod``: the package's ``__init__`` is not what the importer uses."""
    modules = {module_name(p, root): p for p in (root / package).rglob("*.py")}
    graph: dict[str, list[tuple[str, int, bool]]] = {}
    for module, path in modules.items():
        edges = graph.setdefault(module, [])
        for base, names, line, runs in imports_of(path, module):
            submodules = [f"{base}.{name}" for name in names if f"{base}.{name}" in modules]
            targets = submodules if submodules and len(submodules) == len(names) else [base]
            edges.extend((t, line, runs) for t in targets if t in modules)
    return graph


def layer_violations(graph: dict[str, list[tuple[str, int, bool]]]) -> list[str]:
    problems = []
    for module, edges in graph.items():
        source = layer_of(module)
        if source not in RANK:
            continue
        for target, line, _ in edges:
            dest = layer_of(target)
            if dest == source or dest not in RANK:
                continue
            allowed = RANK[dest] < RANK[source] and dest in ONLY.get(source, {dest})
            if not allowed:
                problems.append(f"{module}:{line} imports {target} ({source} -> {dest})")
    return problems


def sql_outside_store(root: Path) -> list[str]:
    """Statements built or run on a session in any layer above the store."""
    problems = []
    for path in sorted((root / "recgen").rglob("*.py")):
        module = module_name(path, root)
        if RANK.get(layer_of(module), -1) <= RANK["store"]:
            continue
        for target, _, line, _ in imports_of(path, module):
            if target.split(".")[0] == "sqlalchemy" and target not in SQLALCHEMY_BEYOND_STORE:
                problems.append(f"{module}:{line} imports {target}")
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (isinstance(node, ast.Attribute) and node.attr in SESSION_QUERIES
                    and isinstance(node.value, ast.Name) and node.value.id == "session"):
                problems.append(f"{module}:{node.lineno} calls session.{node.attr}")
    return problems


def forbidden_imports(root: Path, folder: str) -> list[str]:
    """Imports (lazy ones too) from ``folder`` of a top-level folder it must not import."""
    problems = []
    for path in sorted((root / folder).rglob("*.py")):
        module = module_name(path, root)
        for target, _, line, _ in imports_of(path, module):
            if target.split(".")[0] in FORBIDDEN_TOP_LEVEL[folder]:
                problems.append(f"{module}:{line} imports {target}")
    return problems


def cycles(graph: dict[str, list[tuple[str, int, bool]]]) -> list[list[str]]:
    """Cycles among the imports that run (Tarjan's strongly connected components > 1)."""
    edges = {m: sorted({t for t, _, runs in e if runs}) for m, e in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, []):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def test_every_folder_of_recgen_has_a_layer() -> None:
    folders = {p.name for p in (ROOT / "recgen").iterdir() if p.is_dir() and p.name != "weights"}
    folders -= {"__pycache__"}
    modules = {p.stem for p in (ROOT / "recgen").glob("*.py")} - {"__init__"}
    assert folders | modules <= set(RANK), sorted((folders | modules) - set(RANK))


def test_no_upward_imports() -> None:
    assert layer_violations(package_graph(ROOT, "recgen")) == []


def test_no_import_cycles() -> None:
    graph = package_graph(ROOT, "recgen")
    graph.update(package_graph(ROOT, "workers"))
    assert cycles(graph) == []


def test_models_import_no_storage_or_transport() -> None:
    problems = []
    for path in (ROOT / "recgen" / "models").rglob("*.py"):
        for target, _, line, _ in imports_of(path, module_name(path, ROOT)):
            if target.split(".")[0] in THIRD_PARTY_BANNED["models"]:
                problems.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert problems == []


def test_sql_only_in_the_store() -> None:
    assert sql_outside_store(ROOT) == []


@pytest.mark.parametrize("folder", sorted(FORBIDDEN_TOP_LEVEL))
def test_no_forbidden_top_level_imports(folder: str) -> None:
    assert forbidden_imports(ROOT, folder) == []


def _write(root: Path, files: dict[str, str]) -> None:
    for name, body in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"recgen/store/db.py": "from recgen.api.app import create_app\n",
          "recgen/api/app.py": "def create_app(): ...\n"}, "store -> api"),
        ({"recgen/api/app.py": "from recgen.demo.run import run_demo\n",
          "recgen/demo/run.py": "def run_demo(): ...\n"}, "api -> demo"),
        ({"recgen/models/net.py": "from recgen.store import db\n",
          "recgen/store/db.py": ""}, "models -> store"),
        ({"recgen/client.py": "from recgen.core import errors\n",
          "recgen/core/errors.py": ""}, "client -> core"),
    ],
)
def test_an_upward_import_is_caught(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    _write(tmp_path, files)
    problems = layer_violations(package_graph(tmp_path, "recgen"))
    assert len(problems) == 1 and expected in problems[0]


def test_sql_outside_the_store_is_caught(tmp_path: Path) -> None:
    _write(tmp_path, {
        "recgen/jobs/a.py": "from sqlalchemy import select\nfrom sqlalchemy.orm import Session\n",
        "recgen/profiles/b.py": "def f(session):\n    return session.get(int, 1)\n",
        "recgen/store/repos/c.py": "from sqlalchemy import select\n",
    })
    assert sql_outside_store(tmp_path) == [
        "recgen.jobs.a:1 imports sqlalchemy", "recgen.profiles.b:2 calls session.get"]


def test_an_import_cycle_is_caught(tmp_path: Path) -> None:
    _write(tmp_path, {
        "recgen/jobs/a.py": "from recgen.jobs import b\n",
        "recgen/jobs/b.py": "import recgen.jobs.c\n",
        "recgen/jobs/c.py": "from recgen.jobs.a import x\n",
        "recgen/jobs/d.py": "def f():\n    from recgen.jobs import e\n",  # lazy, still counts
        "recgen/jobs/e.py": "from typing import TYPE_CHECKING\nfrom recgen.jobs import d\n"
                            "if TYPE_CHECKING:\n    from recgen.jobs import f\n",
        "recgen/jobs/f.py": "from recgen.jobs import e\n",  # back only under TYPE_CHECKING
    })
    assert sorted(cycles(package_graph(tmp_path, "recgen"))) == [
        ["recgen.jobs.a", "recgen.jobs.b", "recgen.jobs.c"], ["recgen.jobs.d", "recgen.jobs.e"]
    ]


def test_a_forbidden_top_level_import_is_caught(tmp_path: Path) -> None:
    _write(tmp_path, {
        "bench/a.py": "from tests.support.fakes import FakeText\nfrom harness.world import KEYS\n",
        "bench/b.py": "def f():\n    import tests.conftest\n",  # lazy, still counts
        "harness/c.py": "from bench.common import git_commit\nfrom recgen.core import keys\n",
        "recgen/core/d.py": "from harness.catalog import make_products\n",
        "workers/e.py": "from tests.support import fakes\n",
    })
    problems = [p for folder in sorted(FORBIDDEN_TOP_LEVEL)
                for p in forbidden_imports(tmp_path, folder)]
    assert problems == [
        "bench.a:1 imports tests.support.fakes",
        "bench.b:2 imports tests.conftest",
        "harness.c:1 imports bench.common",
        "recgen.core.d:1 imports harness.catalog",
        "workers.e:1 imports tests.support",
    ]
