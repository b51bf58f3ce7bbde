"""A recurrent layer or a word-model output on either implementation, by name.

``implementation="reference"`` builds the textbook layers of models/layers, ``"fast"`` (the
default) their fast versions of models/fast. Both draw their initial weights from the generator
in the same order and name them the same, so one seed gives the same network either way, and
weights saved by one load into the other.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike

from rnnlab.models.fast.gru import FastGRU
from rnnlab.models.fast.lstm import FastLSTM
from rnnlab.models.fast.rnn import FastRNN
from rnnlab.models.fast.softmax import SoftmaxOutput
from rnnlab.models.layers.gru import TimeGRU
from rnnlab.models.layers.lstm import TimeLSTM
from rnnlab.models.layers.output import AffineSoftmax
from rnnlab.models.layers.rnn import TimeRNN

CELLS = ("rnn", "lstm", "gru")
IMPLEMENTATIONS = ("fast", "reference")

_LAYERS: dict[str, dict[str, Any]] = {
    "reference": {"rnn": TimeRNN, "lstm": TimeLSTM, "gru": TimeGRU, "output": AffineSoftmax},
    "fast": {"rnn": FastRNN, "lstm": FastLSTM, "gru": FastGRU, "output": SoftmaxOutput},
}


def _classes(implementation: str) -> dict[str, Any]:
    if implementation not in _LAYERS:
        raise ValueError(
            f"unknown implementation {implementation!r}: allowed values are "
            f"{', '.join(IMPLEMENTATIONS)}"
        )
    return _LAYERS[implementation]


def make_recurrent(
    cell: str,
    input_size: int,
    hidden_size: int,
    rng: Generator,
    *,
    implementation: str = "fast",
    activation: str = "tanh",
    init: str = "xavier",
    init_std: float = 1.0,
    dtype: DTypeLike = np.float32,
    **cell_options: Any,
) -> Any:
    """A recurrent layer of kind `cell` (one of CELLS) over windows (N, T, D) -> (N, T, H).

    `activation` applies to "rnn" only (LSTM and GRU gates have fixed nonlinearities); cell
    options (bias=False for rnn, peephole=True for lstm) go to the constructor.
    """
    if cell not in CELLS:
        raise ValueError(f"unknown cell {cell!r}: allowed values are {', '.join(CELLS)}")
    cls = _classes(implementation)[cell]
    options = dict(init=init, init_std=init_std, dtype=dtype, **cell_options)
    if cell == "rnn":
        options["activation"] = activation
    elif not options.pop("bias", True):  # gated cells always have biases
        raise ValueError(f"bias=False is only supported for cell 'rnn', not {cell!r}")
    return cls(input_size, hidden_size, rng, **options)


def make_output(
    hidden_size: int,
    vocab_size: int,
    rng: Generator,
    *,
    implementation: str = "fast",
    init: str = "xavier",
    dtype: DTypeLike = np.float32,
) -> Any:
    """The affine hidden -> vocabulary with softmax cross-entropy (AffineSoftmax's contract)."""
    return _classes(implementation)["output"](hidden_size, vocab_size, rng, init=init, dtype=dtype)
