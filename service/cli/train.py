"""`rnnlab train <task>`: one command per task of the registry (binary-addition, next-word, and
any registered through RNNLAB_TASK_MODULES), named after it with hyphens."""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from rnnlab.models.tasks import TASKS, Task
from rnnlab.service.cli import output
from rnnlab.service.cli.client import CliError, ServiceClient
from rnnlab.service.cli.follow import follow

app = typer.Typer(help="Start a training job (then follow it with --follow, or `rnnlab job ID`).")

SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="NAME=VALUE",
        help="A hyperparameter, e.g. --set hidden_size=32 --set cell=lstm, or a group's field, "
        "--set early_stopping.patience=5 (repeatable).",
    ),
]
FollowOption = Annotated[
    bool, typer.Option("--follow", "-f", help="Draw the progress until the job ends.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the service's JSON answer.")]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print only the job id: job=$(rnnlab train ... -q).")
]


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """NAME=VALUE pairs; a value is read as JSON when it is (32, 0.5, true, null), else text.
    GROUP.NAME=VALUE sets one field of a group: --set early_stopping.patience=5."""
    hyperparams: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise CliError(f"--set {pair!r}: write NAME=VALUE, e.g. --set hidden_size=32", 2)
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        group, dot, field = name.strip().partition(".")
        if not dot:
            hyperparams[group] = value
            continue
        fields = hyperparams.setdefault(group, {})
        if not isinstance(fields, dict):
            raise CliError(f"--set {pair!r}: {group} is already set to {fields!r}", 2)
        fields[field] = value
    return hyperparams


def corpus_id(client: ServiceClient, corpus: str) -> int:
    """A corpus id as given, or the id of FILE once uploaded."""
    path = Path(corpus)
    if path.is_file():
        uploaded = upload(client, path, name=path.stem)
        output.errors.print(
            f"uploaded {path} as corpus {uploaded['id']} ({uploaded['tokens']:,} tokens, "
            f"vocabulary {uploaded['vocabulary_size']:,})"
        )
        return int(uploaded["id"])
    if corpus.isdigit():
        return int(corpus)
    raise CliError(
        f"--corpus {corpus}: no such file, and not a corpus id (`rnnlab corpus list`)", 2
    )


def upload(
    client: ServiceClient, path: Path, name: str | None, unknown_threshold: int | None = None
) -> dict[str, Any]:
    try:
        text = path.read_bytes()
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror}", 2) from error
    params: dict[str, Any] = {"name": name or path.stem}
    if unknown_threshold is not None:
        params["unknown_threshold"] = unknown_threshold
    response = client.request(
        "POST",
        "/corpora",
        content=text,
        params=params,
        headers={"content-type": "text/plain; charset=utf-8"},
    )
    return response.json()  # type: ignore[no-any-return]


def submit(
    ctx: typer.Context,
    task: str,
    hyperparams: dict[str, Any],
    follow_it: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    client: ServiceClient = ctx.obj
    job = client.post("/train", json={"task": task, "hyperparams": hyperparams})
    if quiet:
        print(job["id"], flush=True)
    if follow_it:
        if not (as_json or quiet):
            output.errors.print(f"job {job['id']} queued ({task}{_continues(job)})")
        raise typer.Exit(follow(client, job["id"], as_json))
    if quiet:
        return
    if as_json:
        output.print_json(job)
    else:
        output.console.print(
            f"job {job['id']} {job['status']} ({task}{_continues(job)}): "
            f"`rnnlab job {job['id']} --follow` follows it"
        )


def _continues(job: dict[str, Any]) -> str:
    """', from model 5 (optimizer state fresh)' for a job that continues a model; else ''."""
    if job.get("parent_model_id") is None:
        return ""
    return f", from model {job['parent_model_id']} (optimizer state {job['optimizer_state']})"


CorpusOption = Annotated[
    str | None,
    typer.Option(
        metavar="FILE_OR_ID",
        help="A text file to upload, or a corpus id; default the demo corpus.",
    ),
]


FromOption = Annotated[
    str | None,
    typer.Option(
        "--from",
        metavar="MODEL",
        help="Train further from this model: an id or an alias (init_from_model); the "
        "hyperparameters not set are the model's.",
    ),
]


def _command(task: Task) -> Callable[..., None]:
    """`rnnlab train <task>`: its hyperparameters by --set, --corpus when it trains on one and
    --from when it can continue a model (an option a task has no use for is left out of the
    signature, so out of the help)."""

    def train_task(
        ctx: typer.Context,
        corpus: CorpusOption = None,
        from_model: FromOption = None,
        settings: SetOption = None,
        follow_it: FollowOption = False,
        as_json: JsonOption = False,
        quiet: QuietOption = False,
    ) -> None:
        hyperparams = parse_settings(settings or [])
        if corpus is not None:
            hyperparams["corpus_id"] = corpus_id(ctx.obj, corpus)
        if from_model is not None:
            hyperparams["init_from_model"] = from_model  # the service reads digits as an id
        submit(ctx, task.name, hyperparams, follow_it, as_json, quiet)

    needed = {"corpus": task.needs_corpus, "from_model": task.can_continue}
    unused = {name for name, used in needed.items() if not used}
    if unused:
        hints = typing.get_type_hints(train_task, include_extras=True)
        kept = [
            p.replace(annotation=hints[p.name])
            for p in inspect.signature(train_task).parameters.values()
            if p.name not in unused
        ]
        train_task.__signature__ = inspect.Signature(kept)  # type: ignore[attr-defined]
    train_task.__doc__ = task.summary or f"Train a {task.name.replace('_', ' ')} model."
    return train_task


for _task in TASKS.values():
    app.command(_task.name.replace("_", "-"))(_command(_task))
