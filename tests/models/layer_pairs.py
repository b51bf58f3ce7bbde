"""Each textbook recurrent layer beside its fast version, with the options worth covering: the
pairs the tests of models/fast and of the gradient norms hold to the same numbers."""

from __future__ import annotations

from rnnlab.models.fast.gru import FastGRU
from rnnlab.models.fast.lstm import FastLSTM
from rnnlab.models.fast.rnn import FastRNN
from rnnlab.models.layers.gru import TimeGRU
from rnnlab.models.layers.lstm import TimeLSTM
from rnnlab.models.layers.rnn import TimeRNN

PAIRS = [
    (TimeRNN, FastRNN, {"activation": "sigmoid"}),
    (TimeRNN, FastRNN, {"activation": "relu", "bias": False}),
    (TimeLSTM, FastLSTM, {}),
    (TimeLSTM, FastLSTM, {"peephole": True}),
    (TimeGRU, FastGRU, {}),
]
IDS = ["rnn-sigmoid", "rnn-relu-nobias", "lstm", "lstm-peephole", "gru"]
