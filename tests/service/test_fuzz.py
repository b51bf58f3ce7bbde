"""Schemathesis against the live service's own OpenAPI schema: no 5xx on any generated input,
and every answer's status code, content type and body as the schema declares them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import LiveService

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    )
)


@pytest.mark.slow
def test_schemathesis_finds_nothing(service_factory, tmp_path: Path) -> None:
    pytest.importorskip("schemathesis", reason="schemathesis is in the dev extra")
    # Small limits so that the jobs the fuzzer queues stay cheap and finish fast.
    live: LiveService = service_factory(
        max_queued_jobs="3",
        job_time_limit_seconds="2",
        job_memory_budget=str(512 * 2**20),
        max_upload_bytes=str(2**20),
    )
    # A model of each task, so that /predict and /generate are reached past their 404.
    for task, hyperparams in (("binary_addition", {}), ("next_word", {"epochs": 1})):
        assert live.wait_for_job(live.train(task, **hyperparams)["id"])["status"] == "succeeded"
    report = tmp_path / "schemathesis.txt"
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{live.base_url}/openapi.json",
        "--checks",
        CHECKS,
        "--phases",
        "examples,fuzzing",
        "--max-examples",
        "60",
        "--seed",
        "20261122",
        "--workers",
        "2",
        "--continue-on-failure",
        "--no-color",
        "--suppress-health-check",
        "all",
        # The coverage phase is left out: it trips the hypothesis crash described below on
        # most runs.
    ]
    with report.open("w") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=900)
    text = report.read_text(errors="replace")
    short = "\n".join(line[:300] for line in text.splitlines()[-120:])
    if result.returncode != 0:
        # Any failed check fails the test. Hypothesis itself sometimes crashes on Python 3.11
        # while describing a strategy ("AST constructor recursion depth mismatch", a CPython
        # ast bug); the operation it was generating for is then not tested, the rest is.
        assert "Failures:" not in text, short
        # (Each such error names the crash under its heading, and again under its traceback.)
        tool_errors = text.count("Runtime Error\n\nAST constructor recursion depth mismatch")
        assert tool_errors and tool_errors == text.count("Runtime Error\n"), short
        assert "Network Error" not in text, short
    assert live.client.get("/healthz").status_code == 200
