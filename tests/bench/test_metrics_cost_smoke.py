"""bench/metrics_cost.py runs with a tiny setting and prints one JSON line per query."""

from __future__ import annotations

import pytest

from tests.bench.test_bench_smoke import run_bench


@pytest.mark.slow
def test_metrics_cost_bench() -> None:
    figures = run_bench("metrics_cost.py", "--requests", "5", "--pairs", "4")
    assert [figure["query"] for figure in figures] == ["binary", "next_word_cached"]
    for figure in figures:
        assert figure["cpu_us_per_request_without"] > 0
        assert isinstance(figure["metrics_cost_median"], float)
