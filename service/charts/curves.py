"""Loss and accuracy curves drawn with matplotlib, as the study notes draw them.

matplotlib is imported on the first plot, not at start-up (it costs a second or more), and only
its object API is used: no pyplot state shared between requests. Rendering is serialised by a
lock all the same, as matplotlib does not promise thread safety and plots run in the threadpool.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rnnlab.service.charts.text import PLAIN_TEXT, plain
from rnnlab.service.tracking.reads import JobState

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

PANELS = (("loss", "loss"), ("accuracy", "accuracy"))  # (title, what a metric's name contains)
TITLE_HYPERPARAMS = (
    "cell",
    "hidden_size",
    "num_layers",
    "activation",
    "optimizer",
    "learning_rate",
    "batch_size",
    "clip_norm",
    "binary_dim",
    "embedding_size",
    "seq_len",
    "epochs",
    "iterations",
    "seed",
)
MEDIA_TYPES = {"svg": "image/svg+xml", "png": "image/png"}
_lock = threading.Lock()


@dataclass(frozen=True)
class Run:
    """A job and its points, grouped by metric name: (steps, values)."""

    state: JobState
    hyperparams: dict[str, Any]
    series: dict[str, tuple[list[int], list[float]]]


def group_points(rows: Sequence[Any]) -> dict[str, tuple[list[int], list[float]]]:
    series: dict[str, tuple[list[int], list[float]]] = {}
    for row in rows:
        steps, values = series.setdefault(row.name, ([], []))
        steps.append(row.step)
        values.append(row.value)
    return series


def describe(hyperparams: dict[str, Any], names: Sequence[str] = TITLE_HYPERPARAMS) -> str:
    shown = [name for name in names if hyperparams.get(name) is not None]
    return "  ".join(f"{name}={plain(hyperparams[name])}" for name in shown)


def headline(state: JobState) -> str:
    status = state.status
    if status == "running":
        status = f"running, {state.progress:.0%} so far"
    return f"job {state.id}: {plain(state.task.replace('_', ' '))} ({status})"


def job_plot(run: Run, fmt: str) -> bytes:
    """Loss and accuracy of one job, titled with its hyperparameters."""

    def draw(figure: Any) -> None:
        figure.suptitle(f"{headline(run.state)}\n{_wrap(describe(run.hyperparams))}", fontsize=9)
        for axes, (title, part) in zip(figure.subplots(1, 2), PANELS, strict=True):
            names = [name for name in sorted(run.series) if part in name]
            for name in names:
                axes.plot(*run.series[name], label=name, linewidth=1.2)
            _decorate(axes, title, bool(names))

    return _render(draw, fmt)


def compare_plot(runs: Sequence[Run], fmt: str) -> bytes:
    """Several jobs' curves on the same axes, each labelled by what sets it apart."""
    differing = [
        name
        for name in TITLE_HYPERPARAMS
        if len({repr(run.hyperparams.get(name)) for run in runs}) > 1
    ]

    def draw(figure: Any) -> None:
        tasks = sorted({run.state.task.replace("_", " ") for run in runs})
        figure.suptitle(f"{len(runs)} runs: {', '.join(tasks)}", fontsize=9)
        for axes, (title, part) in zip(figure.subplots(1, 2), PANELS, strict=True):
            drawn = False
            for run in runs:
                name = _main_series(run, part)
                if name is None:
                    continue
                label = f"job {run.state.id} {describe(run.hyperparams, differing[:3])}".strip()
                axes.plot(*run.series[name], label=f"{label} ({name})", linewidth=1.2)
                drawn = True
            _decorate(axes, title, drawn)

    return _render(draw, fmt)


def _main_series(run: Run, part: str) -> str | None:
    """The series a comparison shows: `loss` / `accuracy` where logged, else the first match."""
    if part in run.series:
        return part
    return next((name for name in sorted(run.series) if part in name), None)


def _decorate(axes: Any, title: str, drawn: bool) -> None:
    axes.set_title(title, fontsize=9)
    axes.set_xlabel("step", fontsize=8)
    axes.tick_params(labelsize=7)
    axes.grid(alpha=0.3)
    if drawn:
        axes.legend(fontsize=7)
    else:
        axes.text(0.5, 0.5, "no points yet", ha="center", va="center", transform=axes.transAxes)


def _wrap(text: str, width: int = 110) -> str:
    lines, line = [], ""
    for word in text.split("  "):
        if line and len(line) + len(word) + 2 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line}  {word}" if line else word
    return "\n".join([*lines, line])


def _render(draw: Any, fmt: str) -> bytes:
    import matplotlib
    from matplotlib.figure import Figure

    # No embedded date and no random ids: the same curves give the same bytes, so that their
    # ETag holds until they change.
    settings: dict[RcKeyType, Any] = {"svg.hashsalt": "rnnlab", **PLAIN_TEXT}
    with _lock, matplotlib.rc_context(settings):
        figure = Figure(figsize=(9, 3.6), dpi=100, layout="constrained")
        draw(figure)
        buffer = io.BytesIO()
        metadata = {"Date": None} if fmt == "svg" else {}
        figure.savefig(buffer, format=fmt, metadata=metadata)
    return buffer.getvalue()
