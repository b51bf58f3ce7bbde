"""A pytest plugin for `make mutate` only (`-p tests.mutation_names` in [tool.mutmut]).

mutmut names a mutant by its file's path (models/optim.py: `models.optim.x_step__mutmut_3`) and
switches it on only inside the module of that name, while the code and the tests import the
folders as subpackages of rnnlab (`rnnlab.models.optim`, rnnlab/__init__.py). Loaded under that
second name, no mutant would ever run and every one would survive. Here `rnnlab.<folder>...` is
made the same module object as `<folder>...`, imported under mutmut's name: one module, two names.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

FOLDERS = ("models", "service", "migrations")
PREFIX = "rnnlab."


class SameModule(importlib.abc.Loader):
    """Hands back the module already imported under the folder's own name."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return self.module

    def exec_module(self, module: ModuleType) -> None:
        """Already executed under its own name."""


class FolderNames(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object, target: object = None):
        name = fullname.removeprefix(PREFIX)
        if name == fullname or name.partition(".")[0] not in FOLDERS:
            return None
        module = importlib.import_module(name)
        spec = importlib.machinery.ModuleSpec(fullname, SameModule(module), is_package=True)
        spec.submodule_search_locations = getattr(module, "__path__", None)
        return spec


def install() -> None:
    if not any(isinstance(finder, FolderNames) for finder in sys.meta_path):
        sys.meta_path.insert(0, FolderNames())


install()
