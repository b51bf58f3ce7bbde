"""How the client commands print: rich tables for people, the service's JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table

console = Console()
errors = Console(stderr=True)

# The figure worth a glance in a list of models, per task.
HEADLINE_METRICS = ("final_accuracy", "test_perplexity", "test_accuracy")


def print_json(data: Any) -> None:
    # print(), not rich: a script reads exactly the service's JSON, never wrapped or coloured.
    print(json.dumps(data, indent=2))


def show(answer: Any, as_json: bool, for_people: Callable[[], RenderableType]) -> None:
    """The service's `answer` as JSON with --json, else what `for_people` makes of it (built
    only then: a script never pays for a table)."""
    if as_json:
        print_json(answer)
    else:
        console.print(for_people())


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
    settings = " ".join(f"{name}={value}" for name, value in job["hyperparams"].items())
    table.add_row("hyperparams", settings)
    for name, value in latest.items():
        table.add_row(f"last {name}", figure(value))
    return table


def models_table(models: list[dict[str, Any]]) -> Table:
    table = Table("id", "task", "job", "corpus", "headline", "created (UTC)")
    for model in models:
        headline = next(
            (
                f"{name} {figure(model['metrics'][name])}"
                for name in HEADLINE_METRICS
                if name in model["metrics"]
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


def cancel_line(job: dict[str, Any]) -> str:
    if job["status"] == "cancelled":
        return f"job {job['id']} cancelled"
    return f"job {job['id']} {job['status']}: it stops at its next step"


def corpus_line(corpus: dict[str, Any]) -> str:
    return (
        f"corpus {corpus['id']} ({corpus['name']}): {corpus['tokens']:,} tokens, "
        f"vocabulary {corpus['vocabulary_size']:,}"
    )


def sum_line(first: str, second: str, answer: dict[str, Any]) -> str:
    bits = "".join(str(bit) for bit in answer["bits"])
    return (
        f"{first} + {second} = {answer['sum']}  (bits {bits}, most significant first; "
        f"model {answer['model_id']})"
    )


def next_words(answer: dict[str, Any]) -> Group:
    words = {guess["word"]: guess["probability"] for guess in answer["predictions"]}
    return Group(
        f"after {' '.join(answer['context'])!r} (model {answer['model_id']}):",
        metrics_table(words, ("next word", "probability")),
    )


def latest_values(metrics: list[dict[str, Any]]) -> dict[str, float]:
    """The last logged value of each metric name."""
    latest: dict[str, float] = {}
    for metric in sorted(metrics, key=lambda metric: metric["step"]):
        latest[metric["name"]] = metric["value"]
    return latest
