"""Schemathesis against the live service's own OpenAPI schema, in every phase it has (examples,
coverage, fuzzing, stateful): no 5xx on any generated input, every answer's status code, content
type and body as the schema declares them, and every request that breaks the schema refused."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from tests.conftest import LiveService

PHASES = "examples,coverage,fuzzing,stateful"
# positive_data_acceptance is left out: a request can match the schema and still be refused for
# what no schema can state (a text without an English word, a corpus too short for its windows,
# an addend over the binary_dim of the model asked). Those 422s say so in their detail.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)
# Hypothesis sometimes crashes on CPython 3.11 while describing a strategy (a CPython ast bug):
# the operation it was generating for is then not tested; the rest is.
KNOWN_TOOL_BUG = "AST constructor recursion depth mismatch"


def read_report(path: Path) -> tuple[list[str], list[str]]:
    """(failed checks, errors of the tool itself) from schemathesis's NDJSON event log."""
    failures: list[str] = []
    tool_errors: list[str] = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        if "ScenarioFinished" in event:
            recorder = event["ScenarioFinished"]["recorder"]
            for case_id, checks in recorder.get("checks", {}).items():
                failures += [
                    f"{recorder['label']}: {check['name']} failed, case {case_id}: "
                    f"{json.dumps(check.get('failure_info'))[:300]}"
                    for check in checks
                    if check["status"] != "success"
                ]
        for kind in ("NonFatalError", "FatalError"):
            if kind in event:
                error = event[kind]
                value = error.get("value") or error.get("exception") or {}
                tool_errors.append(
                    f"{kind} in {error.get('label', 'the engine')} ({error.get('phase')}): "
                    f"{value.get('type')}: {str(value.get('message'))[:300]}"
                )
    return failures, tool_errors


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
    output, events = tmp_path / "schemathesis.txt", tmp_path / "schemathesis.ndjson"
    # A schema-breaking body too large to read is refused with 413 (RNNLAB_MAX_BODY_BYTES):
    # a refusal too, which the tool's default list of refusals lacks.
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        "[checks.negative_data_rejection]\n"
        'expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", '
        '"422", "428", "429", "5xx"]\n'
    )
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        *("--config-file", str(config)),
        "run",
        f"{live.base_url}/openapi.json",
        *("--checks", ",".join(CHECKS)),
        *("--phases", PHASES),
        *("--max-examples", "60"),
        *("--seed", "20261122"),
        *("--workers", "2"),
        "--continue-on-failure",
        "--no-color",
        *("--suppress-health-check", "all"),
        *("--report", "ndjson", "--report-ndjson-path", str(events)),
        # The all-jobs event stream never ends by design; a job's stream ends with the job.
        *("--exclude-path", "/events"),
    ]
    with output.open("w") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=900)
    text = output.read_text(errors="replace")
    tail = "\n".join(line[:300] for line in text.splitlines()[-80:])
    assert events.exists(), tail
    failures, tool_errors = read_report(events)
    assert not failures, "\n".join(failures[:20]) + f"\n({len(failures)} failed checks)\n{tail}"
    unknown = [error for error in tool_errors if KNOWN_TOOL_BUG not in error]
    assert not unknown, "\n".join(unknown) + "\n" + tail
    if tool_errors:  # reported apart: the tool failed, not the service
        warnings.warn(
            "schemathesis could not test everything (a hypothesis crash on CPython 3.11):\n"
            + "\n".join(tool_errors),
            stacklevel=1,
        )
    assert result.returncode == 0 or tool_errors, tail
    assert live.client.get("/healthz").status_code == 200
