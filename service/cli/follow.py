"""`--follow`: a progress bar with the live loss, elapsed time and ETA until the job ends.

Updates come from the job's event stream (GET /jobs/{id}/events, Server-Sent Events) when the
service has one, else from polling GET /jobs/{id} and its new `loss` metrics. Ctrl+C asks
whether to cancel the job; answering no leaves it running.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.prompt import Confirm

from rnnlab.service.cli import output
from rnnlab.service.cli.client import CliError, ServiceClient

FINISHED = ("succeeded", "failed", "cancelled")
EXIT_CODES = {"succeeded": 0, "failed": 1, "cancelled": 3}
EXIT_INTERRUPTED = 130  # Ctrl+C, the job left running
POLL_SECONDS = 0.5
LOSS_NAMES = ("loss", "train_loss")  # within epochs, and an epoch's mean (next word)


@dataclass
class Update:
    status: str
    progress: float
    loss: float | None = None


def follow(client: ServiceClient, job_id: int, as_json: bool) -> int:
    """Follow job `job_id` to its end; the exit code of its outcome."""
    job = client.get(f"/jobs/{job_id}")
    try:
        if job["status"] not in FINISHED:
            _draw_progress(client, job)
    except KeyboardInterrupt:
        return _interrupted(client, job_id)
    return report_outcome(client, client.get(f"/jobs/{job_id}"), as_json)


def _draw_progress(client: ServiceClient, job: dict[str, Any]) -> None:
    columns = (
        TextColumn("job {task.fields[job_id]} {task.fields[status]:>9}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=output.errors) as bar:
        task = bar.add_task(
            job["task"], total=1.0, completed=job["progress"], job_id=job["id"], status="", loss="-"
        )
        for update in updates(client, job["id"]):
            fields: dict[str, Any] = {"status": update.status}
            if update.loss is not None:
                fields["loss"] = f"{update.loss:.4f}"
            bar.update(task, completed=update.progress, **fields)
            if update.status in FINISHED:
                return


def updates(client: ServiceClient, job_id: int) -> Iterator[Update]:
    """From the event stream while it lasts, else (or then) by polling."""
    last = None
    for last in _streamed(client, job_id):
        yield last
    if last is None or last.status not in FINISHED:
        yield from _polled(client, job_id)


def _streamed(client: ServiceClient, job_id: int) -> Iterator[Update]:
    """Updates from GET /jobs/{id}/events; nothing when the service has no such stream."""
    state = Update(status="", progress=0.0)
    try:
        with client.http.stream(
            "GET", f"/jobs/{job_id}/events", timeout=httpx.Timeout(30.0, read=None)
        ) as response:
            if response.status_code != 200:
                return  # an older service: 404, poll instead
            for data in _event_data(response.iter_lines()):
                if _apply(state, data):
                    yield Update(state.status, state.progress, state.loss)
                    if state.status in FINISHED:
                        return
    except httpx.HTTPError:
        return  # the stream broke: polling takes over


def _event_data(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The JSON objects of an SSE stream's `data:` fields, one per event."""
    buffer: list[str] = []
    for line in lines:
        if line.startswith("data:"):
            buffer.append(line[5:].lstrip())
        elif not line and buffer:
            try:
                data = json.loads("\n".join(buffer))
            except ValueError:
                data = None
            buffer = []
            if isinstance(data, dict):
                yield data


def _apply(state: Update, data: dict[str, Any]) -> bool:
    """Fold one event into `state`: a job's status and progress, and/or logged metrics."""
    changed = False
    if isinstance(data.get("status"), str):
        state.status, changed = data["status"], True
    if isinstance(data.get("progress"), int | float):
        state.progress, changed = float(data["progress"]), True
    metrics = data.get("metrics")
    if isinstance(metrics, dict):
        metrics = [{"name": name, "value": value} for name, value in metrics.items()]
    if not isinstance(metrics, list):
        metrics = [data] if "name" in data else []
    for metric in metrics:
        if isinstance(metric, dict) and metric.get("name") in LOSS_NAMES:
            state.loss, changed = float(metric["value"]), True
    return changed


def _polled(client: ServiceClient, job_id: int) -> Iterator[Update]:
    since = -1  # the last step read; none yet
    loss = None
    while True:
        job = client.get(f"/jobs/{job_id}")
        # The service sends the points after since_step (its last_step), so the last step read
        # is what to send; the first read asks for every point. Ignored by a service without it.
        params = {"since_step": since} if since >= 0 else {}
        new = client.get(f"/jobs/{job_id}/metrics", params=params)["metrics"]
        new = [metric for metric in new if metric["step"] > since]
        if new:
            since = max(metric["step"] for metric in new)
            losses = [metric["value"] for metric in new if metric["name"] in LOSS_NAMES]
            loss = losses[-1] if losses else loss
        yield Update(job["status"], job["progress"], loss)
        if job["status"] in FINISHED:
            return
        time.sleep(POLL_SECONDS)


def report_outcome(client: ServiceClient, job: dict[str, Any], as_json: bool) -> int:
    """Print how the job ended and its final metrics; its exit code."""
    model = client.get(f"/models/{job['model_id']}") if job.get("model_id") else None
    if as_json:
        output.print_json({"job": job, "model": model})
    elif job["status"] == "succeeded" and model is not None:
        output.console.print(f"job {job['id']} succeeded: model {model['id']}")
        output.console.print(output.metrics_table(model["metrics"]))
    elif job["status"] == "failed":
        output.errors.print(f"job {job['id']} failed: {job.get('error')}")
    else:
        output.errors.print(f"job {job['id']} {job['status']}")
    return EXIT_CODES.get(job["status"], 1)


def _interrupted(client: ServiceClient, job_id: int) -> int:
    try:
        cancel = Confirm.ask(f"Cancel job {job_id}?", default=False, console=output.errors)
    except (KeyboardInterrupt, EOFError):
        cancel = False
    if not cancel:
        output.errors.print(
            f"job {job_id} keeps running: `rnnlab job {job_id} --follow` follows it again"
        )
        return EXIT_INTERRUPTED
    try:
        client.post(f"/jobs/{job_id}/cancel")
    except CliError as error:  # e.g. 409: it finished meanwhile
        output.errors.print(str(error))
    for update in _polled(client, job_id):
        if update.status in FINISHED:
            break
    return report_outcome(client, client.get(f"/jobs/{job_id}"), as_json=False)
