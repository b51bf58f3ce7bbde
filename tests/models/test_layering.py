"""models/ is pure numpy: importing every module pulls in no web or database package."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import models

FORBIDDEN = ("service", "fastapi", "sqlalchemy", "pydantic", "starlette", "alembic")

PROBE = """
import importlib, json, pkgutil, sys
import models
names = sorted(f"models.{m.name}" for m in pkgutil.iter_modules(models.__path__))
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
    expected = {f"models.{m.name}" for m in pkgutil.iter_modules(models.__path__)}
    assert {"models.binary_addition", "models.recurrent", "models.optimizers"} <= expected
    assert set(report["imported"]) == expected
    leaked = [m for m in report["modules"] if m.split(".")[0] in FORBIDDEN]
    assert not leaked, f"models/ imports {leaked}"
