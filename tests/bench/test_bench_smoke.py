"""Each benchmark runs with a tiny setting and prints only valid JSON lines."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO, postgres_available


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
    figures = run_bench("binary_addition.py", "--seeds", "1", "--jobs", "1", "--no-search")
    numpy = next(f for f in figures if f.get("impl") == "numpy")
    assert numpy["median_steps"] > 0 and numpy["exhaustive_checks_per_run"] >= 1
    assert any(f.get("impl") == "torch" or "torch" in f for f in figures)  # figures or skipped
    if not any(f.get("torch") == "skipped: not installed" for f in figures):
        ratio = next(f for f in figures if f.get("figure") == "numpy_over_torch")
        assert ratio["ratio"] > 0 and ratio["target"] == "<= 0.1"
    service = next(f for f in figures if f.get("impl") == "service")
    assert service["jobs"] == 1 and service["median_ms"] > 0 and service["target_ms"] == 50


def test_binary_torch_reference() -> None:
    """The torch reference answers one JSON line per run, in a process of its own."""
    pytest.importorskip("torch")
    run = {"seed": 0, "batch_size": 64, "learning_rate": 0.05, "check": "every:10", "threads": 1}
    completed = subprocess.run(
        [sys.executable, str(REPO / "bench/binary_torch.py")],
        input=json.dumps(run) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    hello, result = (json.loads(line) for line in completed.stdout.splitlines())
    assert hello["ready"] and result["reached"] and result["checks"] >= 1


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
        "--rounds",
        "1",
        "--latency-seconds",
        "1",
        "--unique-queries",
        "500",
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
    latency = {f["latency"]: f for f in figures if "latency" in f}
    assert latency.keys() == {
        "bare",
        "binary",
        "next_word_unique",
        "binary_busy",
        "next_word_unique_busy",
    }
    assert all(f["errors"] == 0 and f["non_2xx"] == 0 for f in latency.values())
    ratios = {f["figure"]: f for f in figures if "figure" in f and "ratio" in f}
    assert ratios["binary_over_bare"]["target"] == ">= 0.85"
    assert ratios["next_word_unique_over_bare"]["target"] == ">= 0.6"
    p99 = [f for f in figures if f.get("figure") == "open_loop_p99_ms"]
    assert {f["of"] for f in p99} == latency.keys()


def test_startup_bench() -> None:
    figures = run_bench("startup.py", "--runs", "1")
    assert figures[-1]["figure"] == "startup_to_healthy" and figures[-1]["median_ms"] > 0


def test_next_word_bench() -> None:
    demo = str(REPO / "service/store/data/demo_corpus.txt")
    figures = run_bench(
        "next_word.py",
        *("--corpus", demo, "--epochs", "1", "--paired-steps", "6", "--probe-steps", "2"),
        *("--gemm-size", "256", "--gemm-every", "3"),
    )
    numpy = [f for f in figures if f.get("impl") == "numpy" and "epoch" in f]
    assert len(numpy) == 1 and numpy[0]["tokens_per_second"] > 0
    if any(f.get("torch") == "skipped: not installed" for f in figures):
        assert not any(f.get("summary") == "paired_steps" for f in figures)
    else:
        paired = next(f for f in figures if f.get("summary") == "paired_steps")
        assert paired["steps"] == 6 and paired["tokens_per_second_ratio"] > 0
        peak = next(f for f in figures if f.get("summary") == "gemm_peak")
        assert peak["rounds"] == 2 and peak["numpy_fraction_of_peak"] > 0
        assert peak["target"] == ">= 0.6"
        summaries = {f["summary"] for f in figures if "summary" in f}
        assert {"torch_threads_probe", "test_perplexity", "peak_rss_mb"} <= summaries


def test_teaching_bench() -> None:
    figures = run_bench("teaching.py", "--binary-steps", "100", "--word-steps", "4")
    assert [f["task"] for f in figures] == ["binary_addition", "next_word"]
    assert all(f["step_ms_with"] > 0 and f["step_ms_without"] > 0 for f in figures)


@pytest.mark.slow  # a cluster of processes started twice: about a minute
@pytest.mark.postgres
@pytest.mark.skipif(not postgres_available(), reason="PostgreSQL is not reachable")
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is missing")
def test_scale_out_bench() -> None:
    figures = run_bench(
        "scale_out.py",
        *("--workers", "1", "2", "--rounds", "1", "--binary-jobs", "2", "--next-word-jobs", "2"),
        *("--idle-seconds", "1"),
    )
    assert figures[0]["machine"]["cores"] == os.cpu_count()
    batches = [f for f in figures if f.get("figure") == "jobs_per_minute"]
    assert [(f["task"], f["workers"]) for f in batches] == [
        (task, workers) for workers in (1, 2) for task in ("binary_addition", "next_word")
    ]
    rates = {(f["task"], f["workers"]): f for f in figures if f.get("summary") == "jobs_per_minute"}
    assert rates.keys() == {(f["task"], f["workers"]) for f in batches}
    assert all(f["median"] > 0 and len(f["rounds"]) == 1 for f in rates.values())
    assert rates["next_word", 1]["of_one_worker"] == 1
    latency = [f for f in figures if f.get("summary") == "predict_latency"]
    assert {(f["workers"], f["state"]) for f in latency} == {
        (workers, state) for workers in (1, 2) for state in ("idle", "workers training next_word")
    }
    assert all(0 < f["p50_ms"] <= f["p99_ms"] and f["errors"] == 0 for f in latency)


@pytest.mark.postgres
@pytest.mark.skipif(not postgres_available(), reason="PostgreSQL is not reachable")
def test_predict_backends_bench() -> None:
    figures = run_bench("predict_backends.py", "--rounds", "1", "--requests", "5")
    assert [(f["backend"], f["requests"]) for f in figures] == [("sqlite", 5), ("postgresql", 5)]
    assert all(0 < f["p50_ms"] <= f["p90_ms"] for f in figures)
