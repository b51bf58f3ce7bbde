"""The README's walk-through, done with the `rnnlab` command alone against a fresh service:
every line of its first shell block runs in bash, in order, and must succeed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SHARED

TINYSHAKESPEARE = SHARED / "corpora" / "tinyshakespeare.txt"
# The README's corpus, cut to its first fifth: the same commands, an epoch a fifth as long.
CORPUS_CHARACTERS = 220_000


def walkthrough() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Walk-through", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_the_walkthrough_uses_the_cli_alone() -> None:
    lines = [line for line in walkthrough().splitlines() if line.strip()]
    assert lines and all("rnnlab " in line for line in lines), lines
    assert not any("localhost" in line or "curl" in line for line in lines)


@pytest.mark.slow
@pytest.mark.skipif(
    not TINYSHAKESPEARE.is_file(), reason="../shared/corpora is not beside the repo"
)
def test_the_readme_walkthrough_runs_with_the_cli(service_factory, tmp_path: Path) -> None:
    live = service_factory()
    text = TINYSHAKESPEARE.read_text()[:CORPUS_CHARACTERS]  # the README downloads it
    (tmp_path / "tinyshakespeare.txt").write_text(text)
    script = "set -euo pipefail\nset -x\n" + walkthrough()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "RNNLAB_URL": live.base_url,
    }
    env.pop("RNNLAB_API_KEY", None)
    result = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    out = result.stdout
    assert "37 + 45 = 82" in out and "01010010" in out
    assert "tinyshakespeare" in out  # `corpus list`
    jobs = live.client.get("/jobs").json()["jobs"]
    cancelled = next(job for job in jobs if job["hyperparams"]["epochs"] == 500)
    assert live.wait_for_job(cancelled["id"])["status"] == "cancelled"
    models = live.client.get("/models", params={"task": "next_word"}).json()["models"]
    shakespeare = next(c for c in live.client.get("/corpora").json()["corpora"])
    assert models[0]["corpus_id"] == shakespeare["id"]  # the newest model answered last
