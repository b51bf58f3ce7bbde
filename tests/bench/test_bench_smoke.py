"""Each benchmark runs with a tiny setting and prints only valid JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO


def run_bench(script: str, *args: str, timeout: float = 300) -> list[dict]:
    completed = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    assert lines, completed.stderr[-3000:]
    return [json.loads(line) for line in lines]  # every line is one JSON object


def test_binary_addition_bench() -> None:
    figures = run_bench("binary_addition.py", "--seeds", "1", "--jobs", "1", "--torch-threads", "1")
    numpy = next(f for f in figures if f.get("impl") == "numpy")
    assert numpy["median_steps"] > 0 and numpy["exhaustive_checks_per_run"] >= 1
    assert any(f.get("impl") == "torch" or "torch" in f for f in figures)  # figures or skipped
    service = next(f for f in figures if f.get("impl") == "service")
    assert service["jobs"] == 1 and service["median_ms"] > 0


def test_serving_bench() -> None:
    figures = run_bench(
        "serving.py",
        "--seconds",
        "1",
        "--connections",
        "4",
        "--threads",
        "1",
        "--corpus",
        "demo",
        "--epochs",
        "1",
    )
    if "serving" in figures[-1]:
        pytest.skip(figures[-1]["serving"])  # wrk is not installed
    scenarios = {f["scenario"]: f for f in figures if "scenario" in f}
    assert scenarios.keys() == {
        "bare",
        "binary",
        "next_word",
        "next_word_mixed",
        "next_word_unique",
        "binary_busy",
    }
    assert all(s["requests"] > 0 and s["non_2xx"] == 0 for s in scenarios.values())
    assert {f["figure"] for f in figures if "figure" in f} >= {"binary_over_bare", "worst_p99_ms"}


def test_startup_bench() -> None:
    figures = run_bench("startup.py", "--runs", "1")
    assert figures[-1]["figure"] == "startup_to_healthy" and figures[-1]["median_ms"] > 0


def test_next_word_bench() -> None:
    demo = str(REPO / "service/data/demo_corpus.txt")
    figures = run_bench("next_word.py", "--corpus", demo, "--epochs", "1", "--paired-steps", "4")
    numpy = [f for f in figures if f.get("impl") == "numpy" and "epoch" in f]
    assert len(numpy) == 1 and numpy[0]["tokens_per_second"] > 0
    if any(f.get("torch") == "skipped: not installed" for f in figures):
        assert not any(f.get("summary") == "paired_steps" for f in figures)
    else:
        paired = next(f for f in figures if f.get("summary") == "paired_steps")
        assert paired["steps"] == 4 and paired["tokens_per_second_ratio"] > 0


def test_teaching_bench() -> None:
    figures = run_bench("teaching.py", "--binary-steps", "100", "--word-steps", "4")
    assert [f["task"] for f in figures] == ["binary_addition", "next_word"]
    assert all(f["step_ms_with"] > 0 and f["step_ms_without"] > 0 for f in figures)
