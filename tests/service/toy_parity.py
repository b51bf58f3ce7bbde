"""A third task that lives in the test suite: the running parity of a bit string, learnt by the
textbook RNN (models/layers) in a second. Importing this module registers it, so naming it in
RNNLAB_TASK_MODULES teaches it to the web process and to every worker.

At each step t the net reads bit x_t and says whether x_1 + ... + x_t is odd (notes, s.1's
recurrence with one input and one output). /predict?bits=0110 answers the parity of the whole
string and its probability.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rnnlab.models.layers.activations import sigmoid
from rnnlab.models.layers.affine import TimeAffine
from rnnlab.models.layers.losses import sigmoid_bce_loss
from rnnlab.models.layers.rnn import TimeRNN
from rnnlab.models.optim import make_optimizer
from rnnlab.models.tasks import Task, register
from rnnlab.models.tasks.config import check, param, seed_param
from rnnlab.models.tasks.serving import Answerer, QueryParam, TaskServing
from rnnlab.models.text import Dictionary
from rnnlab.models.training import TrainingHooks, TrainingStopped, TrainResult

NAME = "toy_parity"
BATCH = 32


@dataclass(frozen=True)
class ParityConfig:
    bits: int = param(6, ge=2, le=10, description="Bits per training string.")
    hidden_size: int = param(8, ge=1, le=64)
    learning_rate: float = param(0.05, gt=0, le=10)
    iterations: int = param(600, ge=1, le=100_000, description="Steps.")
    seed: int = seed_param()
    log_every: int = param(10, ge=1, le=10_000, description="Steps per metric.")

    def __post_init__(self) -> None:
        check(self)


class ParityNet:
    def __init__(self, config: ParityConfig, rng: np.random.Generator) -> None:
        self.rnn = TimeRNN(1, config.hidden_size, rng)
        self.out = TimeAffine(config.hidden_size, 1, rng)
        self.layers = {"rnn": self.rnn, "out": self.out}

    def forward(self, bits: NDArray) -> NDArray:
        """Bits (N, T) -> logits (N, T) of the running parity."""
        xs = bits[:, :, None].astype(np.float32)
        return self.out.forward(self.rnn.forward(xs))[:, :, 0]

    def backward(self, dlogits: NDArray) -> None:
        self.rnn.backward(self.out.backward(dlogits[:, :, None]))

    @property
    def params(self) -> list[NDArray]:
        return [p for layer in self.layers.values() for p in layer.params]

    @property
    def grads(self) -> list[NDArray]:
        return [g for layer in self.layers.values() for g in layer.grads]

    def weights(self) -> dict[str, NDArray]:
        return {
            f"{name}.{p}": value.copy()
            for name, layer in self.layers.items()
            for p, value in zip(layer.param_names, layer.params, strict=True)
        }

    def load_weights(self, weights: Mapping[str, NDArray]) -> None:
        for name, layer in self.layers.items():
            for p, value in zip(layer.param_names, layer.params, strict=True):
                value[...] = weights[f"{name}.{p}"]


def running_parity(bits: NDArray) -> NDArray:
    return (np.cumsum(bits, axis=1) % 2).astype(np.float32)


def every_string(length: int) -> NDArray:
    return ((np.arange(2**length)[:, None] >> np.arange(length)) & 1).astype(np.int64)


def evaluate(net: ParityNet, length: int) -> tuple[float, float]:
    """(loss, accuracy) over every string of `length`: a string is right when every step is."""
    bits = every_string(length)
    logits = net.forward(bits)
    loss, _ = sigmoid_bce_loss(logits, running_parity(bits))
    right = ((logits > 0) == (running_parity(bits) > 0.5)).all(axis=1)
    return loss, float(right.mean())


def train(config: ParityConfig, corpus: Any, hooks: TrainingHooks, resume: Any) -> TrainResult:
    rng = np.random.default_rng(config.seed)
    net = ParityNet(config, rng)
    optimizer = make_optimizer("adam", config.learning_rate)
    for step in range(1, config.iterations + 1):
        if hooks.should_stop():
            raise TrainingStopped(f"stopped at step {step}")
        bits = rng.integers(0, 2, (BATCH, config.bits))
        loss, dlogits = sigmoid_bce_loss(net.forward(bits), running_parity(bits))
        net.backward(dlogits)
        optimizer.update(net.params, net.grads)
        if step % config.log_every == 0 or step == config.iterations:
            _, accuracy = evaluate(net, config.bits)
            hooks.report(step, {"loss": loss, "accuracy": accuracy}, step / config.iterations)
    final_loss, final_accuracy = evaluate(net, config.bits)
    metrics = {"final_loss": final_loss, "final_accuracy": final_accuracy}
    return TrainResult(net.weights(), {**metrics, "steps": config.iterations}, config.iterations)


class ParityPredictor:
    def __init__(self, config: ParityConfig, weights: Mapping[str, NDArray]) -> None:
        self.net = ParityNet(config, np.random.default_rng(0))
        self.net.load_weights(weights)


class ParityAnswerer(Answerer):
    def __init__(self, predictor: ParityPredictor) -> None:
        self.net = predictor.net

    def key(self, query: Mapping[str, Any]) -> Hashable | None:
        return query["bits"]

    def prepare(self, query: Mapping[str, Any]) -> NDArray:
        return np.array([[int(bit) for bit in query["bits"]]])

    def answer(self, prepared: NDArray) -> dict[str, Any]:
        probability = float(sigmoid(self.net.forward(prepared))[0, -1])
        return {"parity": int(probability > 0.5), "probability": probability}


def _answerer(predictor: ParityPredictor, dictionary: Dictionary | None) -> ParityAnswerer:
    return ParityAnswerer(predictor)


TASK = register(
    Task(
        name=NAME,
        config_class=ParityConfig,
        train=train,
        predictor=lambda config, weights, corpus: ParityPredictor(config, weights),
        memory_bytes=lambda config, corpus: 2**20,
        metric_names=("loss", "accuracy"),
        final_metric_names=("final_loss", "final_accuracy", "steps"),
        ranked_metrics=("final_accuracy", "final_loss", "steps"),
        curve_metrics=("loss", "accuracy"),
        higher_is_better_metrics=frozenset({"accuracy", "final_accuracy"}),
        serving=TaskServing(
            query=(
                QueryParam(
                    "bits",
                    str,
                    "A bit string (toy parity)",
                    bounds={"pattern": r"^[01]{1,64}$"},
                ),
            ),
            example="bits=0110",
            answerer=_answerer,
        ),
    )
)
