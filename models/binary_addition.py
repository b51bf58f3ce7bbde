"""Binary addition with a recurrent network: a + b one bit per step, least significant first.

x_t = [a_bit(t), b_bit(t)] -> one sigmoid output per step predicting d_bit(t), d = a + b, with
a, b uniform in [0, 2^(binary_dim-1)) so that the sum fits in binary_dim bits.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.random import Generator
from numpy.typing import NDArray

from models.activations import ACTIVATIONS
from models.initializers import INITS
from models.layers import LOSSES, LossFn, TimeAffine, sigmoid, sigmoid_loss
from models.optimizers import OPTIMIZERS, Optimizer, clip_grads, make_optimizer
from models.recurrent import CELLS, make_recurrent
from models.training import (
    TrainingDiverged,
    TrainingHooks,
    TrainingStopped,
    TrainResult,
    check_finite,
    copy_weights,
    load_weights,
    rng_from_array,
    rng_to_array,
)

EXHAUSTIVE_MAX_PAIRS = 2**16  # evaluate every pair up to this many, else a fixed sample
EVAL_SAMPLE_SEED = 20240601  # the fixed sample is the same for every model
# Pairs per forward pass in evaluation: bounds memory at binary_dim 32, and lets a stop check
# that fails (most do) end after its first chunk instead of reading every pair.
EVAL_CHUNK = 2048


@dataclass(frozen=True)
class BinaryAdditionConfig:
    """Hyperparameters of a binary-addition run (names are the HTTP API's)."""

    binary_dim: int = 8
    hidden_size: int = 16
    cell: str = "rnn"
    num_layers: int = 1
    activation: str = "tanh"
    init: str = "xavier"
    init_std: float = 1.0  # std for init="normal"
    optimizer: str = "adam"
    learning_rate: float = 0.05
    batch_size: int = 64  # the fastest to 100% of 64, 128, 256 (median of 20 seeds)
    iterations: int = 2000
    clip_norm: float | None = None
    loss: str = "bce"
    seed: int = 0
    log_every: int = 10
    stop_at_accuracy: float = 1.0
    bias: bool = True

    def __post_init__(self) -> None:
        _check_int("binary_dim", self.binary_dim, 2, 32)
        _check_int("hidden_size", self.hidden_size, 1, 1024)
        _check_choice("cell", self.cell, CELLS)
        _check_int("num_layers", self.num_layers, 1, 3)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("init", self.init, INITS)
        _check_positive("init_std", self.init_std)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_positive("learning_rate", self.learning_rate)
        _check_int("batch_size", self.batch_size, 1, 65536)
        _check_int("iterations", self.iterations, 1, 10_000_000)
        if self.clip_norm is not None:
            _check_positive("clip_norm", self.clip_norm)
        _check_choice("loss", self.loss, LOSSES)
        _check_int("seed", self.seed, 0, 2**63 - 1)
        _check_int("log_every", self.log_every, 1, 10_000_000)
        if not _is_real(self.stop_at_accuracy) or not 0.0 <= self.stop_at_accuracy <= 1.0:
            raise ValueError(
                f"stop_at_accuracy must be a number in 0..1, got {self.stop_at_accuracy!r}"
            )
        if not isinstance(self.bias, bool | np.bool_):
            raise ValueError(f"bias must be true or false, got {self.bias!r}")
        if not self.bias and self.cell != "rnn":
            raise ValueError(f"bias=false is only supported for cell rnn, not {self.cell}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BinaryAdditionConfig:
        """Build from a dict, rejecting unknown names with a message that lists the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(
                f"unknown hyperparameters {', '.join(unknown)}: "
                f"allowed are {', '.join(sorted(known))}"
            )
        return cls(**d)

    @property
    def max_operand(self) -> int:
        return 2 ** (self.binary_dim - 1) - 1


def _is_int(v: object) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_)


def _is_real(v: object) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


def _check_int(name: str, v: object, lo: int, hi: int) -> None:
    if not _is_int(v) or not lo <= v <= hi:  # type: ignore[operator]
        raise ValueError(f"{name} must be an integer in {lo}..{hi}, got {v!r}")


def _check_choice(name: str, v: object, allowed: tuple[str, ...]) -> None:
    if v not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {v!r}")


def _check_positive(name: str, v: object) -> None:
    if not _is_real(v) or not math.isfinite(v) or v <= 0:  # type: ignore[arg-type,operator]
        raise ValueError(f"{name} must be a finite number > 0, got {v!r}")


# ---------------------------------------------------------------------------------------------
# data


def to_bits(n: NDArray, binary_dim: int) -> NDArray[np.uint8]:
    """(N,) integers -> (N, binary_dim) bits, least significant first."""
    shifts = np.arange(binary_dim, dtype=np.int64)
    return ((n.astype(np.int64)[:, None] >> shifts) & 1).astype(np.uint8)


def from_bits(bits: NDArray) -> NDArray[np.int64]:
    """(N, T) bits, least significant first -> (N,) integers."""
    T = bits.shape[1]
    return (bits.astype(np.int64) << np.arange(T, dtype=np.int64)).sum(axis=1)


def make_inputs(a: NDArray, b: NDArray, binary_dim: int, dtype=np.float32) -> NDArray:
    """(N,) operands -> xs (N, T, 2) with x_t = [a_bit(t), b_bit(t)]."""
    return np.stack([to_bits(a, binary_dim), to_bits(b, binary_dim)], axis=-1).astype(dtype)


def sample_batch(
    rng: Generator, n: int, binary_dim: int, dtype=np.float32
) -> tuple[NDArray, NDArray]:
    """A random batch: xs (n, T, 2) and targets (n, T), bits least significant first."""
    high = 2 ** (binary_dim - 1)
    a = rng.integers(0, high, size=n, dtype=np.int64)
    b = rng.integers(0, high, size=n, dtype=np.int64)
    return make_inputs(a, b, binary_dim, dtype), to_bits(a + b, binary_dim).astype(dtype)


def evaluation_pairs(binary_dim: int) -> tuple[NDArray, NDArray]:
    """Every (a, b) pair when there are at most 2^16, else a fixed sample of 2^16 pairs."""
    high = 2 ** (binary_dim - 1)
    if high * high <= EXHAUSTIVE_MAX_PAIRS:
        a, b = np.divmod(np.arange(high * high, dtype=np.int64), high)
        return a, b
    rng = np.random.default_rng(EVAL_SAMPLE_SEED)
    a = rng.integers(0, high, size=EXHAUSTIVE_MAX_PAIRS, dtype=np.int64)
    b = rng.integers(0, high, size=EXHAUSTIVE_MAX_PAIRS, dtype=np.int64)
    return a, b


# ---------------------------------------------------------------------------------------------
# model


class BinaryAdditionNet:
    """num_layers stacked recurrent layers and a per-step affine to one logit.

    forward(xs (N, T, 2)) -> logits (N, T); backward(dlogits (N, T)) -> dxs (N, T, 2).
    """

    def __init__(self, config: BinaryAdditionConfig, rng: Generator, dtype=np.float32) -> None:
        c = config
        self.layers: list[Any] = []
        self.names: list[str] = []
        size = 2
        for i in range(c.num_layers):
            layer = make_recurrent(
                c.cell,
                size,
                c.hidden_size,
                rng,
                activation=c.activation,
                init=c.init,
                init_std=c.init_std,
                dtype=dtype,
                bias=c.bias,
            )
            self.layers.append(layer)
            self.names.append(f"rnn{i}")
            size = c.hidden_size
        self.layers.append(
            TimeAffine(size, 1, rng, c.init, dtype, init_std=c.init_std, bias=c.bias)
        )
        self.names.append("out")
        self.logits: NDArray | None = None  # (N, T) of the last forward
        self.params: list[NDArray] = [p for layer in self.layers for p in layer.params]
        self.grads: list[NDArray] = [g for layer in self.layers for g in layer.grads]
        self.param_names = [
            f"{name}.{p}"
            for name, layer in zip(self.names, self.layers, strict=True)
            for p in layer.param_names
        ]

    def forward(self, xs: NDArray) -> NDArray:
        h = xs
        for layer in self.layers:
            h = layer.forward(h)
        self.logits = h[:, :, 0]  # (N, T)
        return self.logits

    def backward(self, dlogits: NDArray) -> NDArray:
        d = dlogits[:, :, None]
        for layer in reversed(self.layers):
            d = layer.backward(d)
        return d

    def all_pairs_logits(self, binary_dim: int) -> NDArray:
        """Logits (high^2, T) of every pair a, b < high = 2^(binary_dim - 1), row a * high + b.

        The state after step t depends only on the low t + 1 bits of a and b, so the pairs
        share their states along a tree of bit prefixes: step t has 4^(t+1) distinct states
        (the top step, whose input bits are 0, as many as the step before), each computed
        once. At binary_dim 8 that is 38,228 state updates instead of 8 x 16,384, and the
        exhaustive check of every pair costs ~3x less. Equal to `forward` up to float rounding.
        """
        high = 2 ** (binary_dim - 1)
        a, b = np.divmod(np.arange(high * high, dtype=np.int64), high)
        bit_pairs = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], self.params[0].dtype)
        recurrent, out = self.layers[:-1], self.layers[-1]
        was_stateful = [layer.stateful for layer in recurrent]
        node = np.zeros(high * high, np.int64)  # each pair's prefix: its row at this step
        rows = 1  # distinct prefixes so far: the empty one
        logits = np.empty((high * high, binary_dim), np.float32)
        try:
            for layer in recurrent:
                layer.stateful = True
                layer.reset_state()  # the root: zero states
            for t in range(binary_dim):
                if t < binary_dim - 1:  # each prefix gets four children, one per bit pair
                    for layer in recurrent:
                        state = layer.get_state()  # empty at the root: zeros of any size
                        layer.set_state({k: np.repeat(v, 4, axis=0) for k, v in state.items()})
                    xs = np.tile(bit_pairs, (rows, 1))  # row 4 r + j: parent r, bit pair j
                    node = node * 4 + ((a >> t) & 1) * 2 + ((b >> t) & 1)
                    rows *= 4
                else:  # the top bits of a and b are always 0: one child each
                    xs = np.zeros((rows, 2), bit_pairs.dtype)
                h = xs[:, None, :]  # (rows, 1, 2)
                for layer in recurrent:
                    h = layer.forward(h)
                logits[:, t] = out.forward(h)[node, 0, 0]
        finally:
            for layer, stateful in zip(recurrent, was_stateful, strict=True):
                layer.stateful = stateful
                layer.reset_state()
        return logits

    def weights(self) -> dict[str, NDArray]:
        return copy_weights(self.param_names, self.params)

    def load_weights(self, weights: dict[str, NDArray]) -> None:
        """Copy `weights` in place; ValueError on missing names or wrong shapes."""
        load_weights(self.param_names, self.params, weights)


@dataclass(frozen=True)
class EvaluationSet:
    """Evaluation pairs made into inputs and targets once: every pair in order (evaluated along
    the prefix tree, `BinaryAdditionNet.all_pairs_logits`), or chunks of EVAL_CHUNK pairs."""

    chunks: list[tuple[NDArray, NDArray]]  # (xs (n, T, 2), target bits (n, T) uint8); or
    all_targets: NDArray | None  # target bits (high^2, T) of every pair, row a * high + b
    binary_dim: int

    @classmethod
    def build(cls, a: NDArray, b: NDArray, binary_dim: int) -> EvaluationSet:
        high = 2 ** (binary_dim - 1)
        if len(a) == high * high and np.array_equal(a * high + b, np.arange(high * high)):
            return cls([], to_bits(a + b, binary_dim), binary_dim)
        chunks = [
            (
                make_inputs(a[i : i + EVAL_CHUNK], b[i : i + EVAL_CHUNK], binary_dim),
                to_bits(a[i : i + EVAL_CHUNK] + b[i : i + EVAL_CHUNK], binary_dim),
            )
            for i in range(0, len(a), EVAL_CHUNK)
        ]
        return cls(chunks, None, binary_dim)

    @property
    def pairs(self) -> int:
        if self.all_targets is not None:
            return len(self.all_targets)
        return sum(len(ts) for _, ts in self.chunks)

    def logits_and_targets(self, net: BinaryAdditionNet) -> Iterator[tuple[NDArray, NDArray]]:
        """(logits (n, T), target bits (n, T)): all pairs at once, or chunk by chunk."""
        if self.all_targets is not None:
            yield net.all_pairs_logits(self.binary_dim), self.all_targets
            return
        for xs, ts in self.chunks:
            yield net.forward(xs), ts


def evaluate(
    net: BinaryAdditionNet, config: BinaryAdditionConfig, a: NDArray, b: NDArray
) -> dict[str, float]:
    """Exact-match accuracy, per-bit accuracy and mean loss over the pairs (a, b), chunked."""
    result = evaluate_set(net, config, EvaluationSet.build(a, b, config.binary_dim))
    assert result is not None
    return result


def evaluate_set(
    net: BinaryAdditionNet,
    config: BinaryAdditionConfig,
    pairs: EvaluationSet,
    give_up_below: float | None = None,
) -> dict[str, float] | None:
    """The metrics of `evaluate`; None as soon as the exact-match accuracy is certain to stay
    below `give_up_below` (a failed stop check on a sample then costs a chunk, not every pair)."""
    loss_fn = sigmoid_loss(config.loss)
    total = pairs.pairs
    allowed_misses = None if give_up_below is None else total - math.ceil(give_up_below * total)
    exact = bits_ok = seen = 0
    loss_sum = 0.0
    with np.errstate(all="ignore"):  # a broken model shows as a non-finite loss, not a crash
        for logits, ts in pairs.logits_and_targets(net):
            right = (logits > 0) == ts  # (n, T)
            exact += int(right.all(axis=1).sum())
            seen += len(ts)
            if allowed_misses is not None and seen - exact > allowed_misses:
                return None  # before the loss: a failed check needs none
            bits_ok += int(right.sum())
            loss, _ = loss_fn(logits, ts.astype(np.float32))
            loss_sum += loss * len(ts)
    return {
        "accuracy": exact / total,
        "bit_accuracy": bits_ok / (total * pairs.binary_dim),
        "loss": loss_sum / total,
        "pairs": float(total),
    }


# ---------------------------------------------------------------------------------------------
# training


class _StopCheck:
    """When to run the full evaluation that decides stop_at_accuracy.

    Evaluating every pair costs ~5-10 ms at binary_dim 8 against ~1 ms per step, so it runs only
    once a window of at least `window_min` recent samples was accurate enough; each miss doubles
    the window (up to a cap) so that a near-perfect model does not evaluate every step.
    """

    def __init__(self, eval_pairs: int) -> None:
        self.right = self.seen = 0
        self.window_min = 128
        self.cap = max(128, eval_pairs // 8)

    def due(self, right: int, seen: int, threshold: float) -> bool:
        self.right += right
        self.seen += seen
        if self.seen < self.window_min:
            return False
        ok = self.right >= threshold * self.seen
        self.right = self.seen = 0
        return ok

    def missed(self) -> None:
        self.window_min = min(2 * self.window_min, self.cap)

    def state_dict(self) -> dict[str, NDArray]:
        return {
            k: np.array(getattr(self, k), dtype=np.int64) for k in ("right", "seen", "window_min")
        }

    def load_state_dict(self, d: dict[str, NDArray]) -> None:
        for k in ("right", "seen", "window_min"):
            setattr(self, k, int(d[k]))


def _checkpoint(
    net: BinaryAdditionNet, opt: Optimizer, rng: Generator, step: int, stop_check: _StopCheck
) -> dict[str, NDArray]:
    state = {f"param.{n}": p.copy() for n, p in zip(net.param_names, net.params, strict=True)}
    state.update({f"opt.{k}": v for k, v in opt.state_dict().items()})
    state.update({f"stopcheck.{k}": v for k, v in stop_check.state_dict().items()})
    state["rng"] = rng_to_array(rng)
    state["step"] = np.array(step, dtype=np.int64)
    return state


def _restore(
    state: dict[str, NDArray], net: BinaryAdditionNet, opt: Optimizer, stop_check: _StopCheck
) -> tuple[Generator, int]:
    def section(prefix: str) -> dict[str, NDArray]:
        return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}

    missing = [k for k in ("rng", "step") if k not in state]
    if missing:
        raise ValueError(f"not a binary-addition checkpoint: missing {', '.join(missing)}")
    net.load_weights(section("param."))
    opt.load_state_dict(section("opt."))
    if "stopcheck.window_min" in state:
        stop_check.load_state_dict(section("stopcheck."))
    return rng_from_array(state["rng"]), int(state["step"])


def _train_step(
    net: BinaryAdditionNet,
    opt: Optimizer,
    loss_fn: LossFn,
    clip_norm: float | None,
    xs: NDArray,
    ts: NDArray,
    step: int,
) -> float:
    """One forward, backward and update; the loss of the batch before the update.

    Overflow and invalid operations mean divergence and raise TrainingDiverged; underflow
    (e.g. exp of a large negative number) is harmless.
    """
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            loss, dlogits = loss_fn(net.forward(xs), ts)
            check_finite(loss, step)
            net.backward(dlogits)
            if clip_norm is not None:
                clip_grads(net.grads, clip_norm)
            opt.update(net.params, net.grads)
    except FloatingPointError as e:
        raise TrainingDiverged(
            f"numbers overflowed at step {step} ({e}): lower the learning rate or set clip_norm"
        ) from e
    return loss


def train(
    config: BinaryAdditionConfig,
    hooks: TrainingHooks | None = None,
    resume: dict[str, NDArray] | None = None,
) -> TrainResult:
    """Train on random batches; resume from a state given to hooks.save_checkpoint.

    Stops after `iterations` steps or as soon as the exact-match accuracy over all pairs
    (the fixed evaluation set for binary_dim > 9) reaches stop_at_accuracy. Raises
    TrainingDiverged on NaN/inf/overflow and TrainingStopped when hooks.should_stop().
    """
    c = config
    hooks = hooks or TrainingHooks()
    rng = np.random.default_rng(c.seed)
    net = BinaryAdditionNet(c, rng)
    opt = make_optimizer(c.optimizer, c.learning_rate)
    loss_fn = sigmoid_loss(c.loss)
    eval_set = EvaluationSet.build(*evaluation_pairs(c.binary_dim), c.binary_dim)
    stop_check = _StopCheck(eval_set.pairs)
    step = 0
    if resume is not None:
        rng, step = _restore(resume, net, opt, stop_check)
    final: dict[str, float] | None = None
    stopping = False

    while step < c.iterations:
        if hooks.should_stop():
            raise TrainingStopped(f"stopped at step {step}")
        step += 1
        xs, ts = sample_batch(rng, c.batch_size, c.binary_dim)
        loss = _train_step(net, opt, loss_fn, c.clip_norm, xs, ts, step)
        logits: NDArray = net.logits  # type: ignore[assignment]  # set by the forward pass
        right = int(np.all((logits > 0) == ts, axis=1).sum())
        accuracy = right / c.batch_size

        stopping = False
        if stop_check.due(right, c.batch_size, c.stop_at_accuracy):
            final = evaluate_set(net, c, eval_set, give_up_below=c.stop_at_accuracy)
            stopping = final is not None
            if not stopping:
                stop_check.missed()
        if step % c.log_every == 0 or stopping or step == c.iterations:
            done = stopping or step == c.iterations
            progress = 1.0 if done else step / c.iterations
            hooks.report(step, {"loss": loss, "accuracy": accuracy}, progress)
        if stopping:
            break
        if hooks.checkpoint_due():
            hooks.save_checkpoint(step, _checkpoint(net, opt, rng, step, stop_check))

    if final is None or not stopping:
        final = evaluate_set(net, c, eval_set)
        assert final is not None
    if not math.isfinite(final["loss"]):
        raise TrainingDiverged(
            f"loss became {'NaN' if math.isnan(final['loss']) else 'infinite'} at step {step}: "
            "lower the learning rate or set clip_norm"
        )
    metrics = {
        "final_accuracy": final["accuracy"],
        "final_bit_accuracy": final["bit_accuracy"],
        "final_loss": final["loss"],
        "eval_pairs": final["pairs"],
        "steps": float(step),
    }
    return TrainResult(weights=net.weights(), metrics=metrics, steps=step)


# ---------------------------------------------------------------------------------------------
# prediction


class BinaryAdder:
    """A trained model answering a + b."""

    def __init__(self, config: BinaryAdditionConfig, net: BinaryAdditionNet) -> None:
        self.config = config
        self.net = net

    @classmethod
    def from_weights(cls, config: BinaryAdditionConfig, weights: dict[str, NDArray]) -> BinaryAdder:
        net = BinaryAdditionNet(config, np.random.default_rng(0))
        net.load_weights(weights)
        return cls(config, net)

    def _check(self, name: str, v: NDArray) -> None:
        hi = self.config.max_operand
        if v.size and (v.min() < 0 or v.max() > hi):
            raise ValueError(
                f"{name} must be an integer in 0..{hi} "
                f"for a model with binary_dim {self.config.binary_dim}"
            )

    def predict_many(
        self, a: NDArray, b: NDArray
    ) -> tuple[NDArray[np.int64], NDArray[np.uint8], NDArray[np.float32]]:
        """(N,) operands -> sums (N,), bits (N, T), probabilities (N, T); most significant first."""
        a_arr, b_arr = np.asarray(a), np.asarray(b)
        for name, v in (("a", a_arr), ("b", b_arr)):
            if v.ndim != 1 or not (np.issubdtype(v.dtype, np.integer) or v.size == 0):
                raise ValueError(f"{name} must be a 1-d array of integers")
            self._check(name, v)
        if a_arr.shape != b_arr.shape:
            raise ValueError(
                f"a and b must have the same length, got {len(a_arr)} and {len(b_arr)}"
            )
        xs = make_inputs(a_arr.astype(np.int64), b_arr.astype(np.int64), self.config.binary_dim)
        with np.errstate(all="ignore"):
            return _answers(self.net.forward(xs))

    def predict_all_pairs(self) -> tuple[NDArray[np.int64], NDArray[np.uint8], NDArray[np.float32]]:
        """`predict_many` of every pair a, b <= max_operand, row a * (max_operand + 1) + b,
        computed along the prefix tree (`BinaryAdditionNet.all_pairs_logits`)."""
        with np.errstate(all="ignore"):
            return _answers(self.net.all_pairs_logits(self.config.binary_dim))

    def predict(self, a: int, b: int) -> tuple[int, list[int], list[float]]:
        """a + b -> (sum, bits, probabilities), bits and probabilities most significant first."""
        for name, v in (("a", a), ("b", b)):
            if not _is_int(v) or not 0 <= v <= self.config.max_operand:  # type: ignore[operator]
                raise ValueError(
                    f"{name} must be an integer in 0..{self.config.max_operand} "
                    f"for a model with binary_dim {self.config.binary_dim}"
                )
        sums, bits, probs = self.predict_many(np.array([a]), np.array([b]))
        return int(sums[0]), [int(x) for x in bits[0]], [float(p) for p in probs[0]]


def _answers(logits: NDArray) -> tuple[NDArray[np.int64], NDArray[np.uint8], NDArray[np.float32]]:
    """Logits (N, T), least significant first -> sums, bits, probabilities (most significant
    first)."""
    probs = sigmoid(logits)
    bits = (probs > 0.5).astype(np.uint8)
    return from_bits(bits), bits[:, ::-1].copy(), probs[:, ::-1].copy()
