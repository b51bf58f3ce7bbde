"""The training thread pool, and the factory that builds either implementation by name."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rnnlab.models import parallel
from rnnlab.models.fast.lstm import FastLSTM
from rnnlab.models.fast.rnn import FastRNN
from rnnlab.models.fast.softmax import SoftmaxOutput
from rnnlab.models.layers.lstm import TimeLSTM
from rnnlab.models.layers.output import AffineSoftmax
from rnnlab.models.layers.rnn import TimeRNN
from rnnlab.models.recurrent import CELLS, IMPLEMENTATIONS, make_output, make_recurrent


def test_shards_and_parallel_map():
    assert parallel.shard_slices(7, 2) == [slice(0, 3), slice(3, 7)]
    assert parallel.shard_slices(1, 2) == [slice(0, 1)]
    old = parallel.TRAIN_THREADS
    try:
        parallel.set_train_threads(2)
        assert parallel.parallel_map(lambda i: i * i, range(5)) == [0, 1, 4, 9, 16]
    finally:
        parallel.set_train_threads(old)


def test_the_thread_count_is_an_argument_not_the_environment():
    code = "import rnnlab.models.parallel as p; print(p.TRAIN_THREADS)"
    env = {"RNNLAB_TRAIN_THREADS": "7", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "1", out.stderr


def test_make_recurrent_builds_either_implementation():
    rng = np.random.default_rng(0)
    rnn = make_recurrent("rnn", 3, 4, rng, activation="relu", bias=False)
    assert isinstance(rnn, FastRNN) and rnn.param_names == ["Wx", "Wh"]
    reference = make_recurrent("rnn", 3, 4, rng, implementation="reference", bias=False)
    assert isinstance(reference, TimeRNN) and reference.param_names == ["Wx", "Wh"]
    assert isinstance(make_recurrent("lstm", 3, 4, rng, peephole=True), FastLSTM)
    assert isinstance(make_recurrent("lstm", 3, 4, rng, implementation="reference"), TimeLSTM)
    assert isinstance(make_output(4, 9, rng), SoftmaxOutput)
    assert isinstance(make_output(4, 9, rng, implementation="reference"), AffineSoftmax)
    assert CELLS == ("rnn", "lstm", "gru") and IMPLEMENTATIONS == ("fast", "reference")


def test_make_recurrent_rejects_what_does_not_exist():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="rnn, lstm, gru"):
        make_recurrent("transformer", 3, 4, rng)
    with pytest.raises(ValueError, match="fast, reference"):
        make_recurrent("rnn", 3, 4, rng, implementation="textbook")
    with pytest.raises(ValueError, match="bias=False is only supported for cell 'rnn'"):
        make_recurrent("gru", 3, 4, rng, bias=False)
