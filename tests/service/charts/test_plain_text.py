"""Whatever a name or a stored value holds, a chart draws it as plain text (no mathtext) and the
SVG served is well-formed XML: properties over arbitrary Unicode, control characters, lone
surrogates and TeX included, drawn by the service's own chart functions."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rnnlab.service.charts.curves import Run, compare_plot, job_plot
from rnnlab.service.charts.heatmap import gradient_heatmap
from rnnlab.service.charts.text import plain
from rnnlab.service.store.tables import Sweep
from rnnlab.service.sweeps.plot import sweep_svg
from rnnlab.service.tracking.reads import JobState

# Every code point, lone surrogates included (a row written before they were refused)
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
TEX = ("$\\foo$", "$x^{$", "a $b$ c $", "\\$\\", "$$", "<!-- -- -->", "&amp; ]]> <x/>")
CONTROLS = "".join(map(chr, [*range(0x20), *range(0x7F, 0xA0)])) + "\ufffe\uffff\ud800"
# Characters no font here has are drawn as boxes, with a warning each: no fault of the picture
pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
FAST = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def well_formed(svg: bytes) -> None:
    ElementTree.fromstring(svg)  # raises ParseError on anything XML cannot hold


def _sweep(name: str, value: str) -> Sweep:
    return Sweep(id=1, task="binary_addition", name=name, cells=[{"activation": value}])


def _state(task: str = "binary_addition") -> JobState:
    return JobState(1, task, "succeeded", 1.0, 1, False, None, 1, None, None)


@given(name=ANY_TEXT, value=ANY_TEXT)
@example(name="$\\foo$", value="$\\bar$")
@example(name=CONTROLS, value=CONTROLS)
@FAST
def test_a_sweep_plot_is_well_formed_whatever_its_name_and_cells_hold(
    name: str, value: str
) -> None:
    curves = {0: {1: (np.arange(5.0), np.linspace(1.0, 0.5, 5))}}
    well_formed(sweep_svg(_sweep(name, value), curves, "loss"))


@given(value=ANY_TEXT)
@example(value="$\\foo$")
@example(value=CONTROLS)
@FAST
def test_job_plots_are_well_formed_whatever_a_stored_value_holds(value: str) -> None:
    series = {"loss": ([0, 1, 2], [1.0, 0.7, 0.5])}
    run = Run(_state(), {"activation": value, "optimizer": value}, series)
    well_formed(job_plot(run, "svg"))


@pytest.mark.parametrize("value", [*TEX, CONTROLS], ids=lambda value: f"{len(value)} chars")
def test_comparisons_and_heat_maps_are_well_formed_whatever_a_stored_value_holds(
    value: str,
) -> None:
    series = {"loss": ([0, 1, 2], [1.0, 0.7, 0.5])}
    run = Run(_state(), {"activation": value}, series)
    other = Run(_state(), {"activation": "relu"}, series)
    well_formed(compare_plot([run, other], "svg"))
    well_formed(gradient_heatmap(_state(), run.hyperparams, [(1, [1.0, 0.5])], "svg"))


def test_plain_text_writes_what_a_chart_cannot_draw_as_its_escape() -> None:
    assert plain("a\x01b\tc\ud800\ufffe\x9f") == "a\\x01b\\tc\\ud800\\ufffe\\x9f"
    for text in TEX:
        assert plain(text) == text  # drawn as it is: mathtext is off, not escaped away
