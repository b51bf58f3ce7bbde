"""torch is optional: whether a benchmark runs its torch reference, and when not, why."""

from __future__ import annotations

import importlib.util
import json


def torch_runs(skipped_by_flag: bool) -> bool:
    """True when torch is wanted (no --no-torch) and installed; else a JSON line says why not."""
    reason = "skipped: --no-torch" if skipped_by_flag else None
    if reason is None and importlib.util.find_spec("torch") is None:
        reason = "skipped: not installed"
    if reason is not None:
        print(json.dumps({"torch": reason}), flush=True)
    return reason is None
