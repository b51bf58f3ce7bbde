"""The views that teach, from a next-word run: a text generated from a fixed prompt at each
epoch end and the gradient's norm at each time step, computed only when wanted and never
changing what training does (a resumed run included)."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.models.tasks.next_word.config import NextWordConfig
from rnnlab.models.tasks.next_word.teaching import GENERATED_WORDS, PROMPT_WORDS
from rnnlab.models.tasks.next_word.train import train
from rnnlab.models.text import build_dictionary, preprocess
from rnnlab.models.training import RECORD_KINDS, TrainingStopped
from tests.models.tasks.next_word.helpers import SENTENCE, SMALL, Recorder


class Teaching(Recorder):
    def __init__(self, kinds=RECORD_KINDS, **options):
        super().__init__(**options)
        self.kinds = kinds
        self.records: list[tuple[int, str, dict]] = []

    def wants(self, kind):
        return kind in self.kinds

    def record(self, step, kind, payload):
        self.records.append((step, kind, payload))

    def of(self, kind):
        return [(step, payload) for step, k, payload in self.records if k == kind]


def _corpus():
    words = preprocess(SENTENCE * 20)
    dictionary = build_dictionary(words)
    return dictionary.encode(words), dictionary


@pytest.mark.parametrize("mode", ["bptt", "chunk"])
def test_records_text_each_epoch_and_gradient_norms_each_log_step(mode):
    ids, dictionary = _corpus()
    config = NextWordConfig(epochs=3, mode=mode, chunk_size=4, gradient_norms_every=5, **SMALL)
    hooks = Teaching()
    result = train(config, ids, dictionary.size, hooks, words=dictionary.words)

    generated = hooks.of("generated")
    epoch_steps = [step for step, metrics, _ in hooks.reports if "train_loss" in metrics]
    assert [step for step, _ in generated] == epoch_steps
    test_start = len(ids) - int(len(ids) * config.test_fraction)
    prompt = " ".join(dictionary.words[i] for i in ids[test_start : test_start + PROMPT_WORDS])
    for epoch, (_, payload) in enumerate(generated, start=1):
        assert payload["epoch"] == epoch and payload["prompt"] == prompt
        words = payload["text"].split(" ")
        assert len(words) == GENERATED_WORDS and set(words) <= set(dictionary.words[1:])

    traces = hooks.of("gradient_norms")
    assert [step for step, _ in traces] == list(range(5, result.steps + 1, 5))
    lengths = {len(payload["norms"]) for _, payload in traces}
    assert config.window in lengths and lengths <= set(range(1, config.window + 1))  # last batch
    for _, payload in traces:
        assert payload["loss_step"] == len(payload["norms"]) - 1
        assert all(np.isfinite(payload["norms"])) and payload["norms"][-1] > 0
    assert hooks.of("sums") == []


def test_nothing_is_recorded_when_not_wanted_or_turned_off():
    ids, dictionary = _corpus()
    hooks = Teaching(kinds=())
    train(NextWordConfig(epochs=1, **SMALL), ids, dictionary.size, hooks)
    assert hooks.records == []
    hooks = Teaching()
    off = NextWordConfig(epochs=1, teaching_views=False, gradient_norms_every=None, **SMALL)
    train(off, ids, dictionary.size, hooks)
    assert hooks.records == []


def test_without_words_the_text_shows_ids():
    ids, dictionary = _corpus()
    hooks = Teaching(kinds=("generated",))
    train(NextWordConfig(epochs=1, **SMALL), ids, dictionary.size, hooks)
    ((_, payload),) = hooks.of("generated")
    assert all(word.startswith("#") for word in payload["text"].split(" "))


@pytest.mark.parametrize("overrides", [dict(num_layers=2, dropout=0.2), dict(cell="rnn")])
def test_records_change_nothing_and_a_resumed_run_records_the_same(overrides):
    ids, dictionary = _corpus()
    config = NextWordConfig(epochs=3, gradient_norms_every=3, **{**SMALL, **overrides})
    plain = train(config, ids, dictionary.size, Recorder())
    full_hooks = Teaching()
    full = train(config, ids, dictionary.size, full_hooks, words=dictionary.words)
    stop = plain.steps // 3 + 7  # mid-epoch
    interrupted = Teaching(checkpoint_at=stop, stop_at=stop)
    with pytest.raises(TrainingStopped):
        train(config, ids, dictionary.size, interrupted, words=dictionary.words)
    state = interrupted.checkpoints[max(interrupted.checkpoints)]
    resumed_hooks = Teaching()
    resumed = train(config, ids, dictionary.size, resumed_hooks, state, dictionary.words)
    for name in plain.weights:
        np.testing.assert_array_equal(full.weights[name], plain.weights[name], name)
        np.testing.assert_array_equal(resumed.weights[name], plain.weights[name], name)
    saved = max(interrupted.checkpoints)
    for kind in ("generated", "gradient_norms"):
        assert resumed_hooks.of(kind) == [r for r in full_hooks.of(kind) if r[0] > saved]
