"""The distribution installs one top-level import, `rnnlab`: service/, models/ and migrations/
go in as rnnlab.service, rnnlab.models and rnnlab.migrations, never as generic names of their
own beside a user's modules."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {
    "rnnlab.service": "service",
    "rnnlab.models": "models",
    "rnnlab.migrations": "migrations",
}


def listed_packages() -> list[str]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]


def test_every_package_of_the_folders_is_listed_for_the_wheel() -> None:
    found = {"rnnlab"}
    for name, folder in FOLDERS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                relative = init.parent.relative_to(REPO / folder).parts
                found.add(".".join((name, *relative)))
    assert sorted(found) == sorted(listed_packages())


def test_the_checkout_imports_the_folders_under_rnnlab() -> None:
    code = (
        "import rnnlab.service.app, rnnlab.models.tasks, rnnlab.migrations, sys;"
        "generic = {'service', 'models', 'migrations'};"
        "print(sorted({m.split('.')[0] for m in sys.modules} & generic))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"  # nothing was imported under a generic top-level name


@pytest.mark.slow
def test_the_wheel_puts_everything_under_rnnlab(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("rnnlab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"rnnlab"}
    for needed in (
        "rnnlab/service/app.py",
        "rnnlab/service/store/data/demo_corpus.txt",
        "rnnlab/service/api/templates/dashboard.html",
        "rnnlab/service/api/static/dashboard.js",
        "rnnlab/models/tasks/next_word/train.py",
        "rnnlab/migrations/versions/0001_initial_schema.py",
        "rnnlab/migrations/script.py.mako",
    ):
        assert needed in names
