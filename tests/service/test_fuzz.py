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
        "40",
        "--seed",
        "20261122",
        "--workers",
        "2",
        "--continue-on-failure",
        "--no-color",
        "--suppress-health-check",
        "all",
        # The coverage phase is left out: on Python 3.11 it trips an AST-recursion error inside
        # hypothesis itself (not in this service) while describing a filter.
    ]
    with report.open("w") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=900)
    text = report.read_text(errors="replace")
    short = "\n".join(line[:300] for line in text.splitlines()[-120:])
    assert result.returncode == 0, short
    assert live.client.get("/healthz").status_code == 200
