"""The client commands of `rnnlab`: they talk to a running service over HTTP.

Every command prints rich tables, or with `--json` the service's own JSON; errors are one line
on stderr (the service's `detail`) and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from rnnlab.service import __version__
from rnnlab.service.cli import output, train
from rnnlab.service.cli.client import CliError, ServiceClient, default_url
from rnnlab.service.cli.follow import follow

app = typer.Typer(
    name="rnnlab",
    help="Train and query classic recurrent networks through an rnnlab service "
    "(`rnnlab serve` runs one). The API key, when the service has one, comes from RNNLAB_API_KEY.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(train.app, name="train")
corpus_app = typer.Typer(help="Texts that next-word models train on.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")

JsonOption = train.JsonOption
ModelOption = Annotated[
    int | None, typer.Option("--model", "-m", help="Model id; default the newest of its task.")
]


def _version(value: bool) -> None:
    if value:
        print(f"rnnlab {__version__}")
        raise typer.Exit()


@app.callback()
def connect(
    ctx: typer.Context,
    url: Annotated[
        str,
        typer.Option(
            envvar="RNNLAB_URL",
            help="The service; default http://127.0.0.1:$RNNLAB_PORT (8000).",
            show_default=False,
        ),
    ] = "",
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    ctx.obj = ServiceClient(url or default_url(), os.environ.get("RNNLAB_API_KEY") or None)


@app.command("jobs")
def list_jobs(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only jobs in this status.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """The newest jobs."""
    params: dict[str, str | int] = {"limit": limit}
    if status:
        params["status"] = status
    answer = ctx.obj.get("/jobs", params=params)
    output.show(answer, as_json, lambda: output.jobs_table(answer["jobs"]))


@app.command("job")
def show_job(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(help="A job id (`rnnlab jobs` lists them).")],
    follow_it: train.FollowOption = False,
    as_json: JsonOption = False,
) -> None:
    """One job: status, progress, hyperparameters and the last value of each metric."""
    if follow_it:
        raise typer.Exit(follow(ctx.obj, job_id, as_json))
    job = ctx.obj.get(f"/jobs/{job_id}")
    latest = output.latest_values(ctx.obj.get(f"/jobs/{job_id}/metrics")["metrics"])
    output.show({**job, "metrics": latest}, as_json, lambda: output.job_table(job, latest))


@app.command("cancel")
def cancel_job(
    ctx: typer.Context, job_id: Annotated[int, typer.Argument()], as_json: JsonOption = False
) -> None:
    """Cancel a queued job (it never starts) or a running one (it stops within a second)."""
    job = ctx.obj.post(f"/jobs/{job_id}/cancel")
    output.show(job, as_json, lambda: output.cancel_line(job))


@app.command("models")
def list_models(
    ctx: typer.Context,
    task: Annotated[str | None, typer.Option(help="binary_addition or next_word")] = None,
    as_json: JsonOption = False,
) -> None:
    """Trained models with their headline figure, newest first."""
    answer = ctx.obj.get("/models", params={"task": task} if task else {})
    output.show(answer, as_json, lambda: output.models_table(answer["models"]))


@corpus_app.command("upload")
def corpus_upload(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A UTF-8 text file.")],
    name: Annotated[str | None, typer.Option(help="Default: the file's name.")] = None,
    unknown_threshold: Annotated[
        int | None, typer.Option(help="Words seen this often or less become <unk> (default 3).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Upload a text; next-word jobs train on it with --corpus ID."""
    corpus = train.upload(ctx.obj, file, name, unknown_threshold)
    output.show(corpus, as_json, lambda: output.corpus_line(corpus))


@corpus_app.command("list")
def corpus_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every corpus, newest first."""
    answer = ctx.obj.get("/corpora")
    output.show(answer, as_json, lambda: output.corpora_table(answer["corpora"]))


@app.command("predict")
def predict(
    ctx: typer.Context,
    query: Annotated[
        list[str], typer.Argument(help="Two integers (a sum), or a text (its next word).")
    ],
    k: Annotated[int, typer.Option("-k", help="How many next words.")] = 5,
    model: ModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """`rnnlab predict 37 45` adds; `rnnlab predict "to be or not"` guesses the next word."""
    params: dict[str, str | int] = {"model": model} if model else {}
    numbers = len(query) == 2 and all(word.lstrip("-").isdigit() for word in query)
    if numbers:
        params.update(a=query[0], b=query[1])
    else:
        params.update(text=" ".join(query), k=k)
    answer = ctx.obj.get("/predict", params=params)
    if numbers:
        output.show(answer, as_json, lambda: output.sum_line(query[0], query[1], answer))
    else:
        output.show(answer, as_json, lambda: output.next_words(answer))


@app.command("generate")
def generate(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The prompt.")],
    words: Annotated[int, typer.Option(help="Words to generate.")] = 20,
    temperature: Annotated[float, typer.Option(help="Below 1 safer, above 1 wilder.")] = 1.0,
    top_k: Annotated[int | None, typer.Option(help="Sample among the k most likely.")] = None,
    seed: Annotated[int | None, typer.Option(help="The same seed, the same text.")] = None,
    model: ModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Continue a text word by word with a next-word model."""
    params = {"text": text, "words": words, "temperature": temperature, "top_k": top_k}
    params.update(seed=seed, model=model)
    given = {name: value for name, value in params.items() if value is not None}
    answer = ctx.obj.get("/generate", params=given)
    output.show(answer, as_json, lambda: answer["text"])


@app.command("plot")
def plot(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument()],
    image_path: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write (.png or .svg).")
    ],
) -> None:
    """Save a job's loss and metric curves as an image."""
    suffix = "svg" if image_path.suffix.lower() == ".svg" else "png"
    ctx.obj.get(f"/jobs/{job_id}")  # an unknown job is the job's 404, not the plot's
    try:
        image = ctx.obj.request("GET", f"/jobs/{job_id}/plot.{suffix}").content
    except CliError as error:
        if getattr(error, "status_code", None) == 404:
            raise CliError(
                f"the service at {ctx.obj.url} has no /jobs/{{id}}/plot.{suffix} (it is older "
                "than this client): upgrade the service to get plots"
            ) from error
        raise
    image_path.write_bytes(image)
    output.console.print(f"wrote {image_path} ({len(image):,} bytes)")


# Listed for --help; main() runs them before this module is imported (service/cli/server.py).
@app.command("serve", add_help_option=False)
def serve() -> None:
    """Run the HTTP service and its worker processes (`rnnlab serve --help`)."""


@app.command("db", add_help_option=False)
def db() -> None:
    """Database commands: `rnnlab db upgrade` applies the migrations."""


def run(args: list[str]) -> None:
    try:
        app(args=args, prog_name="rnnlab")
    except CliError as error:
        output.errors.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
