"""Next-word prediction over a corpus dictionary (SEEDS.md section 4), without one-hot tensors.

Model: Embedding (V -> E) -> ``num_layers`` recurrent layers (lstm, gru or rnn), each followed by
inverted dropout when ``dropout > 0`` -> affine (H -> V) fused with softmax cross-entropy.

Two ways to make training samples from the token ids (memory O(tokens), never tokens x vocabulary):

- ``mode="bptt"`` (default): the training tokens are cut into ``batch_size`` parallel streams and
  read in windows of ``seq_len``; every position predicts the next token, and the hidden state is
  carried from one window to the next within an epoch (truncated BPTT), reset at epoch start.
- ``mode="chunk"`` (the notes' scheme): ``chunk_size`` consecutive ids predict the next one; samples
  are shuffled each epoch and the loss is taken on the last step only.

The last ``test_fraction`` of the tokens is the test set (the notes train on the first 4/5).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.random import Generator
from numpy.typing import NDArray

from models.embedding import Embedding
from models.initializers import INITS
from models.lstm import TimeLSTM
from models.optimizers import OPTIMIZERS, clip_grads, make_optimizer
from models.recurrent import make_recurrent
from models.softmax import SoftmaxOutput
from models.training import (
    TrainingHooks,
    TrainingStopped,
    TrainResult,
    check_finite,
    copy_weights,
    load_weights,
    rng_from_array,
    rng_to_array,
)

CELLS = ("lstm", "gru", "rnn")
MODES = ("bptt", "chunk")


@dataclass(frozen=True)
class NextWordConfig:
    """Hyperparameters of a next-word model.

    Defaults are the benchmark's (embedding 100, hidden 128, Adam 0.005, clip 5, window 20) except
    ``batch_size=32`` and ``epochs=10``: on the few-thousand-word demo corpus that is ~70 updates
    in a couple of seconds, enough to learn its frequent phrases; a big corpus wants
    ``batch_size=64`` and fewer epochs.
    """

    cell: str = "lstm"
    peephole: bool = False
    num_layers: int = 1
    hidden_size: int = 128
    embedding_size: int = 100
    dropout: float = 0.0
    init: str = "xavier"
    optimizer: str = "adam"
    learning_rate: float = 0.005
    batch_size: int = 32
    seq_len: int = 20
    epochs: int = 10
    mode: str = "bptt"
    chunk_size: int = 5
    clip_norm: float | None = 5.0
    test_fraction: float = 0.2
    seed: int = 0
    log_every: int = 50

    def __post_init__(self) -> None:
        _check_choice("cell", self.cell, CELLS)
        _check_choice("init", self.init, INITS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("mode", self.mode, MODES)
        if not isinstance(self.peephole, bool):
            raise ValueError("peephole must be true or false")
        if self.peephole and self.cell != "lstm":
            raise ValueError(f"peephole applies to cell 'lstm' only, not {self.cell!r}")
        _check_int("num_layers", self.num_layers, 1, 3)
        _check_int("hidden_size", self.hidden_size, 1, 4096)
        _check_int("embedding_size", self.embedding_size, 1, 4096)
        _check_int("batch_size", self.batch_size, 1, 4096)
        _check_int("seq_len", self.seq_len, 1, 1000)
        _check_int("epochs", self.epochs, 1, 100_000)
        _check_int("chunk_size", self.chunk_size, 1, 1000)
        _check_int("seed", self.seed, 0, 2**63 - 1)
        _check_int("log_every", self.log_every, 1, 10**9)
        _check_float("dropout", self.dropout, 0.0 <= self.dropout < 1.0, "in [0, 1)")
        _check_float(
            "learning_rate", self.learning_rate, 0.0 < self.learning_rate <= 10.0, "in (0, 10]"
        )
        _check_float(
            "test_fraction", self.test_fraction, 0.0 < self.test_fraction < 1.0, "in (0, 1)"
        )
        if self.clip_norm is not None:
            _check_float(
                "clip_norm", self.clip_norm, self.clip_norm > 0, "> 0 (or null: no clipping)"
            )

    @property
    def window(self) -> int:
        """Time steps per training sample: seq_len (bptt) or chunk_size (chunk)."""
        return self.seq_len if self.mode == "bptt" else self.chunk_size


def _check_choice(name: str, value: Any, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not low <= value <= high
    ):
        raise ValueError(f"{name} must be an integer from {low} to {high}; got {value!r}")


def _check_float(name: str, value: Any, ok: bool, allowed: str) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not np.isfinite(value)
        or not ok
    ):
        raise ValueError(f"{name} must be a number {allowed}; got {value!r}")


# -- data --------------------------------------------------------------------------------------
def split_tokens(config: NextWordConfig, n_tokens: int) -> int:
    """Number of training tokens: the first (1 - test_fraction) of the corpus."""
    return n_tokens - int(n_tokens * config.test_fraction)


def _enough(config: NextWordConfig, n_tokens: int) -> bool:
    n_train = split_tokens(config, n_tokens)
    n_test = n_tokens - n_train
    if config.mode == "bptt":  # one full (batch_size x seq_len) window + its targets
        return n_train >= config.batch_size * config.seq_len + 1 and n_test >= config.seq_len + 1
    # one full batch of chunk samples; one test sample
    return n_train >= config.chunk_size + config.batch_size and n_test >= config.chunk_size + 1


def min_tokens(config: NextWordConfig) -> int:
    """The fewest corpus tokens giving one full training batch and one test window."""
    if config.mode == "bptt":
        need_train, need_test = config.batch_size * config.seq_len + 1, config.seq_len + 1
    else:
        need_train, need_test = config.chunk_size + config.batch_size, config.chunk_size + 1
    fraction = config.test_fraction
    # n_test = int(n * fraction) and n_train = n - n_test: start just below the real-valued
    # bounds, then step over the rounding (a few steps; never a search from zero).
    bound = max(need_train / (1.0 - fraction), need_test / fraction)
    if not math.isfinite(bound) or bound > sys.maxsize // 2:
        return sys.maxsize  # a test fraction this small can never hold a test window
    n = max(int(bound) - 2, need_train + need_test)
    while not _enough(config, n):
        n += 1
    return n


class BpttBatches:
    """Windows (N, T) of inputs and next-token targets from N parallel streams (views, no copy)."""

    def __init__(self, ids: NDArray, streams: int, seq_len: int) -> None:
        stream_len = (len(ids) - 1) // streams
        self.inputs = ids[: streams * stream_len].reshape(streams, stream_len)
        self.targets = ids[1 : streams * stream_len + 1].reshape(streams, stream_len)
        self.seq_len = seq_len
        self.count = -(-stream_len // seq_len)  # the last window may be shorter

    def get(self, k: int) -> tuple[NDArray, NDArray]:
        s = slice(k * self.seq_len, (k + 1) * self.seq_len)
        return self.inputs[:, s], self.targets[:, s]


class ChunkBatches:
    """Samples ids[j : j + C] -> ids[j + C], in batches, optionally in a shuffled order."""

    def __init__(self, ids: NDArray, chunk_size: int, batch_size: int) -> None:
        self.ids = ids
        self.offsets = np.arange(chunk_size)
        self.samples = len(ids) - chunk_size
        self.batch_size = batch_size
        self.count = -(-self.samples // batch_size)
        self.order: NDArray | None = None  # None: in corpus order

    def get(self, k: int) -> tuple[NDArray, NDArray]:
        starts = np.arange(k * self.batch_size, min((k + 1) * self.batch_size, self.samples))
        if self.order is not None:
            starts = self.order[starts]
        x = self.ids[starts[:, None] + self.offsets]  # (B, C)
        y = self.ids[starts + len(self.offsets)][:, None]  # (B, 1): the last step only
        return x, y


def _epoch_order(seed: int, epoch: int, samples: int) -> NDArray:
    """Chunk samples' order in an epoch, drawn from (seed, epoch): resuming needs no copy."""
    return np.random.default_rng([seed, epoch]).permutation(samples)


# -- model -------------------------------------------------------------------------------------
class Dropout:
    """Inverted dropout: scales kept units by 1/(1-rate) in training, identity otherwise."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._mask: NDArray | None = None

    def forward(self, x: NDArray, rng: Generator | None) -> NDArray:
        if rng is None or self.rate == 0.0:
            self._mask = None
            return x
        keep = 1.0 - self.rate
        self._mask = (rng.random(x.shape, dtype=np.float32) < keep).astype(x.dtype) / x.dtype.type(
            keep
        )
        return x * self._mask

    def backward(self, dout: NDArray) -> NDArray:
        return dout if self._mask is None else dout * self._mask


class NextWordModel:
    """Embedding -> recurrent layers (+ dropout) -> SoftmaxOutput, with flat params/grads lists."""

    def __init__(
        self, config: NextWordConfig, vocab_size: int, rng: Generator, dtype: Any = np.float32
    ) -> None:
        self.config = config
        self.vocab_size = vocab_size
        self.embed = Embedding(vocab_size, config.embedding_size, rng, dtype)
        self.recurrent = []
        size = config.embedding_size
        for _ in range(config.num_layers):
            options: dict[str, Any] = {"peephole": True} if config.peephole else {}
            self.recurrent.append(
                make_recurrent(
                    config.cell,
                    size,
                    config.hidden_size,
                    rng,
                    init=config.init,
                    dtype=dtype,
                    **options,
                )
            )
            size = config.hidden_size
        self.dropouts = [Dropout(config.dropout) for _ in self.recurrent]
        self.out = SoftmaxOutput(config.hidden_size, vocab_size, rng, init=config.init, dtype=dtype)

        self.layers: list[tuple[str, Any]] = [("embed", self.embed)]
        self.layers += [(f"{config.cell}{i}", layer) for i, layer in enumerate(self.recurrent)]
        self.layers.append(("out", self.out))
        self.names = [f"{prefix}.{n}" for prefix, layer in self.layers for n in layer.param_names]
        self.params = [p for _, layer in self.layers for p in layer.params]
        self.grads = [g for _, layer in self.layers for g in layer.grads]

    # -- state ---------------------------------------------------------------------------------
    def set_stateful(self, stateful: bool) -> None:
        for layer in self.recurrent:
            layer.stateful = stateful

    def reset_state(self) -> None:
        for layer in self.recurrent:
            layer.reset_state()

    def get_state(self) -> dict[str, NDArray]:
        return {
            f"{self.config.cell}{i}.{k}": v
            for i, layer in enumerate(self.recurrent)
            for k, v in layer.get_state().items()
        }

    def set_state(self, state: Mapping[str, NDArray]) -> None:
        for i, layer in enumerate(self.recurrent):
            prefix = f"{self.config.cell}{i}."
            layer.set_state({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})

    def weights(self) -> dict[str, NDArray]:
        return copy_weights(self.names, self.params)

    def load_weights(self, weights: Mapping[str, NDArray]) -> None:
        load_weights(self.names, self.params, weights)

    # -- passes --------------------------------------------------------------------------------
    def hidden(self, ids: NDArray, rng: Generator | None = None) -> NDArray:
        """Top recurrent layer's output (N, T, H) for ids (N, T); dropout only when rng is given."""
        x = self.embed.forward(ids)
        for layer, dropout in zip(self.recurrent, self.dropouts, strict=True):
            x = dropout.forward(layer.forward(x), rng)
        return x

    def train_step(self, ids: NDArray, targets: NDArray, rng: Generator) -> float:
        """Forward and backward over one batch; fills self.grads and returns the mean loss.

        targets (N, T') with T' <= T: the loss is on the last T' steps (T' = 1 in chunk mode).
        """
        hs = self.hidden(ids, rng)
        T = hs.shape[1]
        last = targets.shape[1]
        loss = self.out.forward(hs[:, T - last :], targets)
        dtop = self.out.backward()
        if last < T:
            dhs = np.zeros_like(hs)
            dhs[:, T - last :] = dtop
        else:
            dhs = dtop
        for layer, dropout in zip(reversed(self.recurrent), reversed(self.dropouts), strict=True):
            dhs = layer.backward(dropout.backward(dhs))
        self.embed.backward(dhs)
        return loss

    def evaluate_batch(self, ids: NDArray, targets: NDArray) -> tuple[float, int, int]:
        """(summed loss, top-1 hits, predictions) without dropout or gradients."""
        hs = self.hidden(ids)
        last = targets.shape[1]
        loss_sum, hits = self.out.evaluate(hs[:, hs.shape[1] - last :], targets)
        return loss_sum, hits, targets.size


# -- training ----------------------------------------------------------------------------------
def _test_batches(config: NextWordConfig, test_ids: NDArray) -> Iterator[tuple[NDArray, NDArray]]:
    windows: BpttBatches | ChunkBatches
    if config.mode == "bptt":
        streams = max(1, min(config.batch_size, (len(test_ids) - 1) // config.seq_len))
        windows = BpttBatches(test_ids, streams, config.seq_len)
    else:
        windows = ChunkBatches(test_ids, config.chunk_size, config.batch_size)
    for k in range(windows.count):
        yield windows.get(k)


def evaluate(model: NextWordModel, config: NextWordConfig, test_ids: NDArray) -> dict[str, float]:
    """Test loss, perplexity (exp of mean cross-entropy) and top-1 accuracy, window by window."""
    model.reset_state()
    model.set_stateful(config.mode == "bptt")
    loss_sum, hits, count = 0.0, 0, 0
    for x, y in _test_batches(config, test_ids):
        batch_loss, batch_hits, batch_count = model.evaluate_batch(x, y)
        loss_sum, hits, count = loss_sum + batch_loss, hits + batch_hits, count + batch_count
    model.reset_state()
    test_loss = loss_sum / count
    return {
        "test_loss": test_loss,
        "test_perplexity": float(np.exp(min(test_loss, 700.0))),
        "test_accuracy": hits / count,
    }


def _as_ids(token_ids: NDArray, vocab_size: int) -> NDArray:
    ids = np.asarray(token_ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError("token_ids must be a 1-D array of integer ids")
    if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(f"token ids must lie in [0, {vocab_size}) (the vocabulary size)")
    return ids


def train(
    config: NextWordConfig,
    token_ids: NDArray,
    vocab_size: int,
    hooks: TrainingHooks | None = None,
    resume: Mapping[str, NDArray] | None = None,
) -> TrainResult:
    """Train on token_ids (1-D ints < vocab_size); see the module docstring for the two modes.

    Calls hooks.report per epoch (train_loss, test_loss, test_perplexity, test_accuracy,
    tokens_per_second) and every log_every steps ({"loss"}); hooks.should_stop() and
    hooks.checkpoint_due() every step; hooks.save_checkpoint at every epoch end but the last.
    ``resume`` (a checkpoint's state) continues bit for bit.
    """
    hooks = hooks or TrainingHooks()
    ids = _as_ids(token_ids, vocab_size)
    if not _enough(config, len(ids)):
        raise ValueError(
            f"the corpus has {len(ids)} tokens; these settings need at least {min_tokens(config)} "
            f"(lower batch_size or {'seq_len' if config.mode == 'bptt' else 'chunk_size'})"
        )
    n_train = split_tokens(config, len(ids))
    train_ids, test_ids = ids[:n_train], ids[n_train:]
    rng = np.random.default_rng(config.seed)
    model = NextWordModel(config, vocab_size, rng)
    optimizer = make_optimizer(config.optimizer, config.learning_rate)
    if config.mode == "bptt":
        batches: BpttBatches | ChunkBatches = BpttBatches(
            train_ids, config.batch_size, config.seq_len
        )
    else:
        batches = ChunkBatches(train_ids, config.chunk_size, config.batch_size)

    step, epoch, position, loss_sum, loss_count = 0, 0, 0, 0.0, 0
    if resume is not None:
        rng, step, epoch, position, loss_sum, loss_count = _restore(
            resume, config, model, optimizer
        )

    total_steps = config.epochs * batches.count
    metrics: dict[str, float] = {}
    while epoch < config.epochs:
        model.set_stateful(config.mode == "bptt")
        if isinstance(batches, ChunkBatches):
            batches.order = _epoch_order(config.seed, epoch, batches.samples)
        if position == 0:
            model.reset_state()
            loss_sum, loss_count = 0.0, 0
        start, tokens = time.perf_counter(), 0
        for k in range(position, batches.count):
            if hooks.should_stop():
                raise TrainingStopped(f"stopped at step {step}")
            x, y = batches.get(k)
            loss = model.train_step(x, y, rng)
            check_finite(loss, step + 1)
            if config.clip_norm is not None:
                clip_grads(model.grads, config.clip_norm)
            optimizer.update(model.params, model.grads)
            step += 1
            tokens += x.size
            loss_sum, loss_count = loss_sum + loss, loss_count + 1
            progress = (epoch * batches.count + k + 1) / total_steps
            if step % config.log_every == 0:
                hooks.report(step, {"loss": loss}, progress)
            if hooks.checkpoint_due():
                state = (step, epoch, k + 1, loss_sum, loss_count)
                hooks.save_checkpoint(step, _checkpoint(config, model, optimizer, rng, *state))
        elapsed = time.perf_counter() - start
        metrics = {"train_loss": loss_sum / max(loss_count, 1), **evaluate(model, config, test_ids)}
        metrics["tokens_per_second"] = tokens / elapsed if elapsed > 0 else 0.0
        epoch, position = epoch + 1, 0
        hooks.report(step, metrics, epoch / config.epochs)
        if epoch < config.epochs:
            hooks.save_checkpoint(
                step, _checkpoint(config, model, optimizer, rng, step, epoch, 0, 0.0, 0)
            )
    return TrainResult(weights=model.weights(), metrics=metrics, steps=step)


def _checkpoint(
    config: NextWordConfig,
    model: NextWordModel,
    optimizer: Any,
    rng: Generator,
    step: int,
    epoch: int,
    position: int,
    loss_sum: float,
    loss_count: int,
) -> dict[str, NDArray]:
    """A flat dict of arrays from which train() resumes bit for bit."""
    state: dict[str, NDArray] = {f"weights.{k}": v for k, v in model.weights().items()}
    state.update({f"optim.{k}": v for k, v in optimizer.state_dict().items()})
    state.update({f"carry.{k}": v for k, v in model.get_state().items()})
    state["rng"] = rng_to_array(rng)
    state["config"] = np.frombuffer(json.dumps(asdict(config)).encode(), dtype=np.uint8).copy()
    state["step"] = np.array(step, dtype=np.int64)
    state["epoch"] = np.array(epoch, dtype=np.int64)
    state["position"] = np.array(position, dtype=np.int64)
    state["loss_sum"] = np.array(loss_sum, dtype=np.float64)
    state["loss_count"] = np.array(loss_count, dtype=np.int64)
    return state


def _restore(
    state: Mapping[str, NDArray], config: NextWordConfig, model: NextWordModel, optimizer: Any
) -> tuple[Generator, int, int, int, float, int]:
    """Load a checkpoint into model and optimizer; (rng, step, epoch, position, loss sum, count)."""
    try:
        model.load_weights({k[8:]: v for k, v in state.items() if k.startswith("weights.")})
        optimizer.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("optim.")})
        model.set_state({k[6:]: v for k, v in state.items() if k.startswith("carry.")})
        rng = rng_from_array(state["rng"])
        numbers = (int(state["step"]), int(state["epoch"]), int(state["position"]))
        loss_sum, loss_count = float(state["loss_sum"]), int(state["loss_count"])
    except (KeyError, ValueError) as exc:
        raise ValueError(f"cannot resume from this checkpoint: {exc}") from exc
    return rng, *numbers, loss_sum, loss_count


# -- prediction --------------------------------------------------------------------------------
class NextWordPredictor:
    """Serving: next-word distributions (batched) and sampled continuations (no dropout)."""

    def __init__(self, model: NextWordModel) -> None:
        self.model = model
        self.vocab_size = model.vocab_size
        model.set_stateful(True)  # the context runs once; generation feeds one word at a time
        for layer in model.recurrent:  # the weights are fixed from here on (only LSTM caches)
            if isinstance(layer, TimeLSTM):
                # the first layer's inputs are embedding rows: it may keep their projections
                layer.freeze(model.embed.params[0] if layer is model.recurrent[0] else None)

    @classmethod
    def from_weights(
        cls, config: NextWordConfig, weights: Mapping[str, NDArray], vocab_size: int
    ) -> NextWordPredictor:
        # the initial draw is overwritten by the weights; the seed only makes it cheap and fixed
        model = NextWordModel(config, vocab_size, np.random.default_rng(0))
        model.load_weights(weights)
        return cls(model)

    def _hidden(self, ids: NDArray, lengths: NDArray | None = None) -> NDArray:
        """The top layer's output (N, T, H) for ids (N, T) (no dropout): the model's `hidden`,
        with the first LSTM's input projection looked up (`TimeLSTM.forward_ids`) and, given
        ``lengths`` sorted longest first, each LSTM stopping a row after its own length."""
        first, *others = self.model.recurrent
        if isinstance(first, TimeLSTM) and first.has_input_table():
            x = first.forward_ids(ids, lengths)
        else:
            x = _forward(first, self.model.embed.forward(ids), lengths)
        for layer in others:
            x = _forward(layer, x, lengths)
        return x

    def _feed(self, ids: NDArray) -> NDArray:
        """Run ids (T,) from the carried state; the logits (V,) after the last one."""
        hs = self._hidden(ids.reshape(1, -1))
        return self.model.out.last_step_logits(hs[:, -1])[0]

    def _context(self, ids: Sequence[int]) -> NDArray:
        arr = self._checked(ids)
        self.model.reset_state()
        return arr

    def _checked(self, ids: Sequence[int]) -> NDArray:
        arr = np.asarray(ids, dtype=np.int64).reshape(-1)
        if arr.size == 0:
            raise ValueError("the context is empty: give at least one word")
        if int(arr.min()) < 0 or int(arr.max()) >= self.vocab_size:
            raise ValueError(f"word ids must lie in [0, {self.vocab_size})")
        return arr

    def next_logits(self, contexts: Sequence[Sequence[int]]) -> NDArray:
        """Logits (len(contexts), V) of the word after each context, in one batched pass.

        Contexts of any lengths share the pass, sorted longest first: each row runs from a zero
        state, an LSTM stops it after its own last word (other cells compute the padding, never
        read), and its logits are read there. A row's
        numbers match its context alone to float32 rounding, not bit for bit: a BLAS kernel
        sums a row's products in an order that depends on where the row falls in its tiles
        (seen on OpenBLAS's Haswell kernels, where no fixed padding makes rows agree).
        """
        if not contexts:
            raise ValueError("no context given")
        arrays = [self._checked(ids) for ids in contexts]
        order = np.argsort([-len(a) for a in arrays], kind="stable")  # longest first
        lengths = np.array([len(arrays[i]) for i in order])
        ids = np.zeros((len(arrays), int(lengths[0])), np.int64)
        for row, i in enumerate(order):
            ids[row, : lengths[row]] = arrays[i]
        self.model.reset_state()
        hs = self._hidden(ids, lengths)  # (rows, T, H)
        final = hs[np.arange(len(arrays)), lengths - 1]  # (rows, H): each at its own last word
        logits = np.empty((len(arrays), self.vocab_size), final.dtype)
        logits[order] = self.model.out.last_step_logits(final)
        return logits

    def next_distribution(self, ids: Sequence[int]) -> NDArray:
        """Probabilities (V,) of the word following the context ids."""
        return _softmax(self.next_logits([ids])[0])

    def most_likely(self, ids: Sequence[int], k: int) -> tuple[NDArray, NDArray]:
        """The k most likely ids after the context (most likely first) and their probabilities
        (the values of ``next_distribution`` at those ids)."""
        return self.most_likely_many([ids], [k])[0]

    def most_likely_many(
        self, contexts: Sequence[Sequence[int]], ks: Sequence[int]
    ) -> list[tuple[NDArray, NDArray]]:
        """``most_likely`` of several contexts in batched passes (see ``next_logits``), one per
        group of similar lengths (``length_groups``): a server answering concurrent requests
        pays the per-step cost of the LSTM and the read of the output weights once per pass
        instead of once per request."""
        if len(ks) != len(contexts):
            raise ValueError("give one k per context")
        for k in ks:
            if not 1 <= k <= self.vocab_size:
                raise ValueError(f"k must be from 1 to {self.vocab_size}")
        answers: dict[int, tuple[NDArray, NDArray]] = {}
        for group in length_groups([len(c) for c in contexts]):
            logits = self.next_logits([contexts[i] for i in group])  # (n, V)
            exps = np.exp(logits - logits.max(axis=1, keepdims=True))
            sums = exps.sum(axis=1)
            for row, i in enumerate(group):
                top = top_k_indices(logits[row], ks[i])
                answers[i] = (top, exps[row, top] / sums[row])  # k divisions, not V
        return [answers[i] for i in range(len(contexts))]

    def generate(
        self,
        ids: Sequence[int],
        words: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        rng: Generator | None = None,
        banned: Sequence[int] = (),
    ) -> list[int]:
        """Sample ``words`` ids continuing the context; temperature 0 means greedy (argmax).

        top_k keeps only the k most likely words at each step; ``banned`` ids (e.g. the unknown
        token) are never produced.
        """
        if words < 0:
            raise ValueError("words must be >= 0")
        if not temperature >= 0 or not np.isfinite(temperature):
            raise ValueError("temperature must be a number >= 0")
        if top_k is not None and not 1 <= top_k <= self.vocab_size:
            raise ValueError(f"top_k must be from 1 to {self.vocab_size}")
        rng = rng if rng is not None else np.random.default_rng()
        logits = self._feed(self._context(ids))
        out: list[int] = []
        for _ in range(words):
            next_id = _sample(logits, temperature, top_k, rng, banned)
            out.append(next_id)
            logits = self._feed(np.array([next_id]))
        return out


def _forward(layer: Any, x: NDArray, lengths: NDArray | None) -> NDArray:
    """layer.forward(x), each row stopped at its length by an LSTM; the other cells compute
    the padding steps too (never read)."""
    return layer.forward(x, lengths) if isinstance(layer, TimeLSTM) else layer.forward(x)


# Contexts up to this many words share one batched pass (padding a 1-word context to 16 steps
# costs less than a second pass); longer ones pass with others of the same power of two.
SHORT_CONTEXT_WORDS = 16


def length_groups(lengths: Sequence[int]) -> list[list[int]]:
    """Indices of `lengths` grouped for batched passes, in order: one group of the short
    contexts (<= SHORT_CONTEXT_WORDS), then one per power of two (17-32, 33-64, ...). A pass
    pads every context to its longest, and a long one must not drag a crowd of short ones
    through all its steps: one 200-word context among 20 of 5 words made a single pass of
    29 ms, against 7 ms grouped."""
    groups: dict[int, list[int]] = {}
    for index, length in enumerate(lengths):
        group = 0 if length <= SHORT_CONTEXT_WORDS else (int(length) - 1).bit_length()
        groups.setdefault(group, []).append(index)
    return list(groups.values())


# Up to this k, k rounds of argmax (~1 us each at V = 3.9k) beat np.argpartition, which costs
# ~35 us at any k there: a /predict with the default k = 5 spent more time ranking than in the
# output layer.
ARGMAX_ROUNDS_MAX_K = 16


def top_k_indices(values: NDArray, k: int) -> NDArray:
    """Indices of the k largest values, largest first (ties: the lower index first)."""
    if k <= ARGMAX_ROUNDS_MAX_K:
        remaining = values.astype(np.float64)  # a copy, and -inf below every finite value
        top = np.empty(k, np.intp)
        for rank in range(k):
            top[rank] = best = remaining.argmax()
            remaining[best] = -np.inf
        return top
    top = np.argpartition(-values, k - 1)[:k]
    return top[np.lexsort((top, -values[top]))]


def _softmax(logits: NDArray) -> NDArray:
    e = np.exp(logits - logits.max())
    return e / e.sum()


def _sample(
    logits: NDArray, temperature: float, top_k: int | None, rng: Generator, banned: Sequence[int]
) -> int:
    logits = logits.astype(np.float64)
    if len(banned):
        logits[list(banned)] = -np.inf
    if temperature == 0:
        return int(np.argmax(logits))
    if top_k is not None and top_k < len(logits):
        cutoff = np.partition(logits, -top_k)[-top_k]
        logits[logits < cutoff] = -np.inf
    # Shift before dividing: a tiny temperature then sends the others to -inf (greedy), not
    # every logit to +-inf and the probabilities to NaN.
    with np.errstate(over="ignore"):  # overflowing to -inf is the point
        probs = _softmax((logits - logits.max()) / temperature)
    return int(rng.choice(len(probs), p=probs))
