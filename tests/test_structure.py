"""The shape the code keeps: wings whose imports run one way, small files and functions, no
task named in the service, comments without timing figures. Read from the source, as text and
syntax trees: nothing is run."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

from rnnlab.models.tasks import TASKS

REPO = Path(__file__).resolve().parents[1]
SERVICE = REPO / "service"
MODELS = REPO / "models"

# Each wing of service/ and the level it stands on: a module imports from its own level or
# below, never above. Peers on one level may use each other (catalog's deletion evicts a model
# from serving's cache), but jobs/ never reaches for sweeps/, api/ or cli/.
LEVELS = {
    "errors": 0,
    "settings": 0,
    "store": 1,
    "schemas": 1,
    "tracking": 2,
    "charts": 2,
    "catalog": 2,
    "serving": 2,
    "jobs": 2,
    "sweeps": 3,
    "api": 4,
    "cli": 5,
    "app": 5,
}
# Wings that know no HTTP: what they say, routes turn into responses.
NO_HTTP = ("store", "schemas", "serving", "jobs", "tracking", "catalog", "sweeps")
HTTP_PACKAGES = ("fastapi", "starlette")
MAX_FILE_LINES = 300
MAX_FUNCTION_LINES = 60
TIMING_FIGURE = re.compile(r"\b\d+(\.\d+)? ?(ms|us|µs|ns|GFLOP/s)\b")


def sources(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def wing_of(path: Path) -> str:
    return path.relative_to(SERVICE).parts[0].removesuffix(".py")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def service_wings_imported(path: Path) -> set[str]:
    prefix = "rnnlab.service."
    return {
        name.removeprefix(prefix).split(".")[0]
        for name in imported_modules(path)
        if name.startswith(prefix) and name.removeprefix(prefix).split(".")[0] in LEVELS
    }


def test_the_top_of_service_keeps_the_application_its_settings_and_its_errors() -> None:
    top = sorted(p.name for p in SERVICE.glob("*.py"))
    assert top == ["__init__.py", "app.py", "errors.py", "settings.py"]
    wings = {p.name for p in SERVICE.iterdir() if (p / "__init__.py").is_file()}
    assert wings <= set(LEVELS), f"a wing without a level in this test: {wings - set(LEVELS)}"


@pytest.mark.parametrize("path", sources(SERVICE), ids=lambda p: str(p.relative_to(REPO)))
def test_imports_run_one_way(path: Path) -> None:
    wing = wing_of(path)
    if wing == "__init__":
        return
    above = {w for w in service_wings_imported(path) if LEVELS[w] > LEVELS[wing]}
    assert not above, f"{wing}/ imports from the wings above it: {sorted(above)}"
    if wing in NO_HTTP:
        http = {m for m in imported_modules(path) if m.split(".")[0] in HTTP_PACKAGES}
        assert not http, f"{wing}/ knows no HTTP, but imports {sorted(http)}"


def test_files_are_small() -> None:
    long = {
        str(p.relative_to(REPO)): n
        for p in sources(SERVICE) + sources(MODELS)
        if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES
    }
    assert not long, f"split these files where they mix concepts: {long}"


def test_functions_fit_on_a_screen() -> None:
    long = {}
    for path in sources(SERVICE) + sources(MODELS):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(REPO)}:{node.name}"] = length
    assert not long, f"split these functions: {long}"


def test_no_task_is_named_in_the_service() -> None:
    """A task describes itself through the registry: the service reads what it needs from
    TASKS, so a new task is a package, not an edit here. OpenAPI examples (modules named for
    examples) are the exception: they show real requests."""
    names = {*TASKS, *(name.replace("_", "-") for name in TASKS)}
    found = []
    for path in sources(SERVICE):
        if "example" in path.name:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f"{path.relative_to(REPO)}:{node.lineno} {node.value!r}")
    assert not found, f"the service names tasks: {found}"


def test_comments_say_why_not_how_fast_it_was_one_day() -> None:
    """Timing figures go stale with the machine: they live in bench/README.md, beside the
    benchmark that measures them."""
    found = []
    for path in sources(SERVICE) + sources(MODELS):
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
        for token in tokens:
            if token.type == tokenize.COMMENT and TIMING_FIGURE.search(token.string):
                found.append(f"{path.relative_to(REPO)}:{token.start[0]} {token.string.strip()}")
    assert not found, f"move these figures to bench/README.md: {found}"
