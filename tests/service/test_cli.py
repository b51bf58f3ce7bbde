"""The `rnnlab` client commands, run as a user runs them: a subprocess against a real service."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import LiveService, free_port

RNNLAB = str(Path(sys.executable).parent / "rnnlab")
LONG_JOB = ["--set", "epochs=10000"]  # runs until cancelled


def rnnlab(service: LiveService | str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    url = service if isinstance(service, str) else service.base_url
    return subprocess.run(
        [RNNLAB, "--url", url, *args], capture_output=True, text=True, timeout=300, **kwargs
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def test_version_and_help() -> None:
    version = subprocess.run([RNNLAB, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("rnnlab 0.")
    help_text = subprocess.run([RNNLAB, "--help"], capture_output=True, text=True, check=True)
    for command in ("train", "jobs", "predict", "generate", "plot", "serve", "db", "corpus"):
        assert command in help_text.stdout


def test_an_unreachable_service_is_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert_one_line_error(rnnlab(url, "jobs"), "cannot reach the rnnlab service", url)


def test_train_follow_then_predict_binary_addition(service: LiveService) -> None:
    trained = rnnlab(service, "train", "binary-addition", "--set", "seed=5", "--follow")
    assert trained.returncode == 0, trained.stderr
    assert "succeeded" in trained.stdout
    assert "final_accuracy" in trained.stdout
    assert "loss" in trained.stderr  # the progress line
    answer = rnnlab(service, "predict", "37", "45")
    assert "37 + 45 = 82" in answer.stdout
    assert "01010010" in answer.stdout
    as_json = json.loads(rnnlab(service, "predict", "37", "45", "--json").stdout)
    assert as_json["sum"] == 82 and as_json["bits"] == [0, 1, 0, 1, 0, 0, 1, 0]


def test_follow_json_and_settings_reach_the_job(service: LiveService) -> None:
    result = rnnlab(service, "train", "binary-addition", "--set", "hidden_size=12", "-f", "--json")
    assert result.returncode == 0, result.stderr
    finished = json.loads(result.stdout)
    assert finished["job"]["status"] == "succeeded"
    assert finished["job"]["hyperparams"]["hidden_size"] == 12
    assert finished["model"]["metrics"]["final_accuracy"] == 1.0
    job = json.loads(rnnlab(service, "job", str(finished["job"]["id"]), "--json").stdout)
    assert job["metrics"]["accuracy"] > 0.9
    listed = json.loads(rnnlab(service, "jobs", "--json").stdout)
    assert finished["job"]["id"] in [j["id"] for j in listed["jobs"]]
    models = json.loads(rnnlab(service, "models", "--json").stdout)
    assert finished["model"]["id"] in [m["id"] for m in models["models"]]


def test_a_group_is_set_field_by_field(service: LiveService) -> None:
    stopping = ["early_stopping.metric=validation_accuracy", "early_stopping.patience=2"]
    sets = [arg for setting in [*stopping, "validation_every=10"] for arg in ("--set", setting)]
    result = rnnlab(service, "train", "binary-addition", *sets, "-f", "--json")
    assert result.returncode == 0, result.stderr
    finished = json.loads(result.stdout)
    assert finished["job"]["hyperparams"]["early_stopping"] == {
        "metric": "validation_accuracy",
        "patience": 2,
        "min_delta": 0.0,
    }
    metrics = finished["model"]["metrics"]
    assert metrics["best_step"] <= metrics["steps"] and "validation_accuracy" in metrics
    assert_one_line_error(
        rnnlab(service, "train", "binary-addition", "--set", "early_stopping.patience=0"),
        "422",
        "hyperparams.early_stopping.patience",
    )


def test_service_errors_are_its_detail_in_one_line(service: LiveService) -> None:
    assert_one_line_error(
        rnnlab(service, "train", "binary-addition", "--set", "hidden_size=99999"),
        "422",
        "hyperparams.hidden_size",
    )
    assert_one_line_error(
        rnnlab(service, "train", "binary-addition", "--set", "bogus=1"), "hyperparams.bogus"
    )
    assert_one_line_error(rnnlab(service, "job", "987654"), "404", "job 987654 does not exist")
    assert_one_line_error(rnnlab(service, "predict", "1", "2", "--model", "987654"), "987654")


def test_a_failed_job_exits_non_zero_with_its_reason(service: LiveService) -> None:
    diverging = ["binary_dim=32", "activation=relu", "init=he", "learning_rate=1.0"]
    diverging += ["optimizer=sgd", "hidden_size=64", "iterations=200"]
    sets = [arg for setting in diverging for arg in ("--set", setting)]
    result = rnnlab(service, "train", "binary-addition", *sets, "--follow")
    assert result.returncode == 1
    assert "failed" in result.stderr and "lower the learning rate" in result.stderr


def test_corpus_upload_list_and_train_from_a_file(service: LiveService, tmp_path: Path) -> None:
    text = tmp_path / "story.txt"
    text.write_text("the cat sat on the mat and the dog sat on the log . " * 200)
    uploaded = json.loads(rnnlab(service, "corpus", "upload", str(text), "--json").stdout)
    assert uploaded["name"] == "story" and uploaded["tokens"] > 2000
    listed = json.loads(rnnlab(service, "corpus", "list", "--json").stdout)
    assert uploaded["id"] in [c["id"] for c in listed["corpora"]]
    trained = rnnlab(
        service, "train", "next-word", "--corpus", str(text), "--set", "epochs=1", "-f", "--json"
    )
    assert trained.returncode == 0, trained.stderr
    assert "uploaded" in trained.stderr
    model = json.loads(trained.stdout)["model"]
    assert "test_perplexity" in model["metrics"]
    again = rnnlab(service, "train", "next-word", "--corpus", str(uploaded["id"]), "--json")
    assert json.loads(again.stdout)["hyperparams"]["corpus_id"] == uploaded["id"]
    rnnlab(service, "cancel", str(json.loads(again.stdout)["id"]))
    words = rnnlab(service, "predict", "the cat sat on the", "-k", "2", "--json", "--model")
    assert words.returncode == 2  # --model needs a value: a usage error
    words = rnnlab(
        service, "predict", "the cat sat on the", "-k", "2", "-m", str(model["id"]), "--json"
    )
    assert len(json.loads(words.stdout)["predictions"]) == 2
    story = rnnlab(
        service,
        "generate",
        "the cat",
        "--words",
        "5",
        "--seed",
        "1",
        "-m",
        str(model["id"]),
        "--json",
    )
    assert len(json.loads(story.stdout)["continuation"]) == 5
    missing = rnnlab(service, "corpus", "upload", str(tmp_path / "nope.txt"))
    assert missing.returncode != 0 and "Traceback" not in missing.stderr


def test_plot_writes_the_image_or_says_the_service_has_none(
    service: LiveService, tmp_path: Path
) -> None:
    job = service.wait_for_job(service.train("binary_addition", seed=2)["id"])
    out = tmp_path / "loss.png"
    result = rnnlab(service, "plot", str(job["id"]), "-o", str(out))
    if service.client.get(f"/jobs/{job['id']}/plot.png").status_code == 404:
        assert_one_line_error(result, "has no /jobs/{id}/plot.png")
        assert not out.exists()
    else:
        assert result.returncode == 0, result.stderr
        assert out.read_bytes().startswith(b"\x89PNG")
    assert_one_line_error(rnnlab(service, "plot", "987654", "-o", str(out)), "job 987654")


def follow_in_background(service: LiveService) -> tuple[subprocess.Popen, dict]:
    """`rnnlab train next-word ... --follow` started, and its job once running."""
    process = subprocess.Popen(
        [RNNLAB, "--url", service.base_url, "train", "next-word", *LONG_JOB, "--follow"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        jobs = service.client.get("/jobs", params={"status": "running"}).json()["jobs"]
        mine = [job for job in jobs if job["hyperparams"]["epochs"] == 10000]
        if mine:
            time.sleep(1.0)  # the client is following by now
            return process, mine[0]
        time.sleep(0.1)
    process.kill()
    raise AssertionError("the job did not start")


@pytest.mark.slow
def test_ctrl_c_while_following_asks_then_cancels(service_factory) -> None:
    live = service_factory()
    process, job = follow_in_background(live)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate("y\n", timeout=60)
    assert process.returncode == 3, stderr  # cancelled
    assert f"Cancel job {job['id']}?" in stderr
    assert "Traceback" not in stderr
    assert live.client.get(f"/jobs/{job['id']}").json()["status"] == "cancelled"


@pytest.mark.slow
def test_ctrl_c_while_following_can_leave_the_job_running(service_factory) -> None:
    live = service_factory()
    process, job = follow_in_background(live)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate("n\n", timeout=60)
    assert process.returncode == 130, stderr
    assert f"rnnlab job {job['id']} --follow" in stderr
    assert live.client.get(f"/jobs/{job['id']}").json()["status"] == "running"
    cancelled = rnnlab(live, "cancel", str(job["id"]))
    assert cancelled.returncode == 0 and f"job {job['id']}" in cancelled.stdout
    assert live.wait_for_job(job["id"])["status"] == "cancelled"


def test_api_key_comes_from_the_environment(service_factory) -> None:
    live = service_factory(api_key="s3cret")
    refused = rnnlab(live, "train", "binary-addition")
    assert_one_line_error(refused, "401", "API key")
    env = {**live.env, "RNNLAB_API_KEY": "s3cret"}
    accepted = rnnlab(live, "train", "binary-addition", "-q", env=env)
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.strip().isdigit()


def test_the_event_stream_reader_folds_status_progress_and_loss() -> None:
    from rnnlab.service.cli.follow import Update, _apply, _event_data

    lines = [
        "event: status",
        'data: {"status": "running", "progress": 0.25}',
        "",
        ": a comment keeps the connection alive",
        "",
        "event: metric",
        'data: {"name": "loss", "step": 10, "value": 0.5}',
        "",
        'data: {"metrics": [{"name": "loss", "step": 20, "value": 0.4}]}',
        "",
        "data: not json",
        "",
        'data: {"status": "succeeded", "progress": 1.0}',
        "",
    ]
    state = Update(status="", progress=0.0)
    seen = [
        (state.status, state.progress, state.loss)
        for data in _event_data(iter(lines))
        if _apply(state, data)
    ]
    assert seen == [
        ("running", 0.25, None),
        ("running", 0.25, 0.5),
        ("running", 0.25, 0.4),
        ("succeeded", 1.0, 0.4),
    ]


def test_following_by_polling_reads_every_point_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--follow` without an event stream polls GET /jobs/{id}/metrics with the last step it
    read as since_step (the service sends the points after it, since_step at least 0): step 0 and
    the steps right after each read arrive too."""
    import httpx

    from rnnlab.service.cli import follow
    from rnnlab.service.cli.client import ServiceClient

    stored: list[dict] = []
    served: list[int] = []

    def service(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/jobs/1":  # the job logs two steps between polls, then ends
            for step in (len(stored), len(stored) + 1):
                stored.append({"name": "loss", "step": step, "value": float(step)})
            status = "succeeded" if len(stored) >= 8 else "running"
            return httpx.Response(200, json={"status": status, "progress": len(stored) / 8})
        since = request.url.params.get("since_step")
        if since is not None and int(since) < 0:
            return httpx.Response(422, json={"detail": "since_step: at least 0"})
        new = [m for m in stored if since is None or m["step"] > int(since)]
        served.extend(m["step"] for m in new)
        return httpx.Response(200, json={"metrics": new})

    monkeypatch.setattr(follow, "POLL_SECONDS", 0.0)
    client = ServiceClient("http://rnnlab.test")
    client.http = httpx.Client(base_url=client.url, transport=httpx.MockTransport(service))
    losses = [update.loss for update in follow._polled(client, 1)]
    assert served == list(range(8)), "each point once"
    assert losses == [1.0, 3.0, 5.0, 7.0], "each poll shows its newest loss"


def test_train_from_a_model_says_which_and_how_its_optimizer_starts(service: LiveService) -> None:
    parent = service.wait_for_job(service.train("binary_addition", hidden_size=12)["id"])
    by_option = rnnlab(service, "train", "binary-addition", "--from", str(parent["model_id"]))
    assert by_option.returncode == 0, by_option.stderr
    assert f"from model {parent['model_id']} (optimizer state fresh)" in by_option.stdout
    by_set = rnnlab(
        service,
        "train",
        "binary-addition",
        "--set",
        f"init_from_model={parent['model_id']}",
        "--json",
    )
    job = json.loads(by_set.stdout)
    assert (job["parent_model_id"], job["hyperparams"]["hidden_size"]) == (parent["model_id"], 12)
    refused = rnnlab(service, "train", "binary-addition", "--from", "999999")
    assert_one_line_error(refused, "404", "model 999999 does not exist")
