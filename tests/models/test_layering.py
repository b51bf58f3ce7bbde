"""models/ is pure numpy: importing every module pulls in no web or database package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rnnlab import models

FORBIDDEN = (
    "rnnlab.service",
    "service",
    "fastapi",
    "sqlalchemy",
    "pydantic",
    "starlette",
    "alembic",
)


def _leaks(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN)


PROBE = """
import importlib, json, pkgutil, sys
from rnnlab import models
names = sorted(m.name for m in pkgutil.walk_packages(models.__path__, "rnnlab.models."))
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "modules": sorted(sys.modules)}))
"""


def test_models_import_no_service_layers():
    root = Path(models.__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=root, capture_output=True, text=True, check=True
    )
    report = json.loads(out.stdout)
    expected = {
        "rnnlab.models.layers.lstm",
        "rnnlab.models.fast.lstm",
        "rnnlab.models.tasks.binary_addition.train",
        "rnnlab.models.tasks.next_word.predict",
    }
    assert expected <= set(report["imported"])
    leaked = [m for m in report["modules"] if _leaks(m)]
    assert not leaked, f"models/ imports {leaked}"


# mutmut rewrites every function into a trampoline and its mutants: the files it tests are
# many times longer than the source they come from.
@pytest.mark.skipif("MUTANT_UNDER_TEST" in os.environ, reason="a mutated copy, not the source")
def test_no_file_in_models_is_over_300_lines():
    root = Path(models.__file__).resolve().parent
    long = {
        str(p.relative_to(root)): n
        for p in root.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 300
    }
    assert not long, f"split these files: {long}"
