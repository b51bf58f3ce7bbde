"""How the client commands print: rich tables for people, the service's JSON for scripts."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()
errors = Console(stderr=True)

# The figure worth a glance in a list of models, per task.
HEADLINE_METRICS = ("final_accuracy", "test_perplexity", "test_accuracy")


def print_json(data: Any) -> None:
    # print(), not rich: a script reads exactly the service's JSON, never wrapped or coloured.
    print(json.dumps(data, indent=2))


def when(timestamp: str | None) -> str:
    """An ISO 8601 time as `2026-12-02 12:29:28` (UTC, like the service)."""
    return timestamp[:19].replace("T", " ") if timestamp else "-"


def short_when(timestamp: str | None) -> str:
    """`12-02 12:29:28`, for tables."""
    return when(timestamp)[5:] if timestamp else "-"


def figure(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def jobs_table(jobs: list[dict[str, Any]]) -> Table:
    table = Table("id", "task", "status", "progress", "created (UTC)", "model")
    for job in jobs:
        status = job["status"] + (f": {job['error']}" if job.get("error") else "")
        table.add_row(
            str(job["id"]),
            job["task"],
            status,
            f"{job['progress']:.0%}",
            short_when(job["created_at"]),
            str(job["model_id"] or "-"),
        )
    return table


def job_table(job: dict[str, Any], latest: dict[str, float]) -> Table:
    table = Table("field", "value", show_header=False)
    for name in ("id", "task", "status", "attempt", "model_id", "error"):
        if job.get(name) is not None:
            table.add_row(name, str(job[name]))
    table.add_row("progress", f"{job['progress']:.1%}")
    for name in ("created_at", "started_at", "finished_at"):
        table.add_row(name.removesuffix("_at"), when(job.get(name)))
    table.add_row("hyperparams", " ".join(f"{k}={v}" for k, v in job["hyperparams"].items()))
    for name, value in latest.items():
        table.add_row(f"last {name}", figure(value))
    return table


def models_table(models: list[dict[str, Any]]) -> Table:
    table = Table("id", "task", "job", "corpus", "headline", "created (UTC)")
    for model in models:
        headline = next(
            (
                f"{n} {figure(model['metrics'][n])}"
                for n in HEADLINE_METRICS
                if n in model["metrics"]
            ),
            "",
        )
        table.add_row(
            str(model["id"]),
            model["task"],
            str(model["job_id"]),
            str(model["corpus_id"] or "-"),
            headline,
            short_when(model["created_at"]),
        )
    return table


def metrics_table(metrics: dict[str, Any], header: tuple[str, str] = ("metric", "value")) -> Table:
    table = Table(*header)
    for name, value in metrics.items():
        table.add_row(name, figure(value))
    return table


def corpora_table(corpora: list[dict[str, Any]]) -> Table:
    table = Table("id", "name", "tokens", "vocabulary", "unknown share", "created (UTC)")
    for corpus in corpora:
        table.add_row(
            str(corpus["id"]),
            corpus["name"],
            f"{corpus['tokens']:,}",
            f"{corpus['vocabulary_size']:,}",
            f"{corpus['unknown_token_fraction']:.1%}",
            short_when(corpus["created_at"]),
        )
    return table


def latest_values(metrics: list[dict[str, Any]]) -> dict[str, float]:
    """The last logged value of each metric name."""
    latest: dict[str, float] = {}
    for metric in sorted(metrics, key=lambda m: m["step"]):
        latest[metric["name"]] = metric["value"]
    return latest
