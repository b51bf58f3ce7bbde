"""Softmax cross-entropy over a vocabulary, plain and fused with the output projection.

The output layer (hidden -> vocabulary) plus the softmax is most of the training time of a word
model (~70% of the CPU time of the tinyshakespeare benchmark: three (1280 x 128 x 3904) GEMMs a
step). ``SoftmaxOutput`` therefore
- splits the rows into ``parallel.SHARDS`` shards run on the training thread pool
  (``models.parallel``), each with its own dW/db, summed in shard order so the weights do not
  depend on the thread count;
- makes the logits and exp block by block, skips the max-subtraction when a
  Cauchy-Schwarz bound shows exp cannot overflow, and never normalises the (rows, V)
  probabilities: the 1 / (row sum * M) goes on the small h and dh instead;
- takes row sums and db as GEMVs (3x faster than ``.sum(axis=...)`` on float32).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike, NDArray

from models.initializers import init_weight
from models.parallel import parallel_map, shard_slices

# Rows per block of the forward product + softmax, which bounds the rows one GEMM sees. Blocks
# of 64 rows (1 MB of logits at V = 3,904, one core's L2) were meant to keep the exp in L2, but
# on the reference machine (EPYC, 1 MB L2, 32 MB L3) the larger GEMM wins: the product + exp
# of 1,280 x 128 x 3,904 took 24.7 ms in blocks of 64 and 20.1 ms in one, and a training step
# of the tinyshakespeare benchmark 57-58 ms against 55 ms with blocks of 1,024 (every shard of
# that benchmark, 640 rows, is then one block).
BLOCK_ROWS = 1024

# exp(x) neither overflows nor underflows to 0 in float32 for |x| <= 87; with a margin for the sum
# of V terms, logits bounded by this need no max subtraction before exp.
EXP_SAFE = 60.0


def log_softmax(logits: NDArray) -> NDArray:
    """Row-wise log-softmax over the last axis, stable (the max is subtracted first)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(logits: NDArray) -> NDArray:
    """Row-wise softmax over the last axis, stable."""
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_cross_entropy(logits: NDArray, targets: NDArray) -> tuple[float, NDArray]:
    """Mean cross-entropy of logits (..., V) against integer targets (...), and d loss/d logits."""
    V = logits.shape[-1]
    flat = logits.reshape(-1, V)
    t = targets.reshape(-1)
    M = len(t)
    rows = np.arange(M)
    shifted = flat - flat.max(axis=1, keepdims=True)
    log_sums = np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (M, 1)
    loss = float((log_sums[:, 0] - shifted[rows, t]).mean())
    probs = np.exp(shifted - log_sums)  # (M, V)
    probs[rows, t] -= 1.0
    probs /= M
    return loss, probs.reshape(logits.shape)


class TimeSoftmaxCrossEntropy:
    """Loss layer: forward(logits (N, T, V), targets (N, T)) -> mean loss; backward() -> dlogits."""

    def __init__(self) -> None:
        self.params: list[NDArray] = []
        self.grads: list[NDArray] = []
        self.param_names: list[str] = []
        self._dlogits: NDArray | None = None

    def forward(self, logits: NDArray, targets: NDArray) -> float:
        loss, self._dlogits = softmax_cross_entropy(logits, targets)
        return loss

    def backward(self, dout: float = 1.0) -> NDArray:
        assert self._dlogits is not None, "backward() before forward()"
        return self._dlogits * dout


class SoftmaxOutput:
    """Affine hidden -> vocabulary fused with softmax cross-entropy, in row shards and blocks.

    params [W (H, V), b (V,)]. ``forward(hs (N, T, H), targets (N, T))`` returns the mean loss and,
    when ``need_grad``, already computes dW, db and dhs, which ``backward()`` returns.
    ``evaluate`` returns (summed loss, number of correct top-1 predictions) without gradients.

    The M = N*T rows are cut into ``SHARDS`` contiguous shards, run on the thread pool (one shard
    per thread, see ``parallel_map``). In a shard, each block of ``block_rows`` rows is multiplied,
    turned into probabilities in place, then the shard's two backward products
    run once over all its rows (GEMMs with K or M = rows/shard pack their own panels, so blocking
    them buys nothing). The shards' dW and db are summed in shard order: the result does not
    depend on the number of threads.
    """

    def __init__(
        self,
        hidden_size: int,
        vocab_size: int,
        rng: Generator,
        *,
        init: str = "xavier",
        init_std: float = 1.0,
        dtype: DTypeLike = np.float32,
        block_rows: int = BLOCK_ROWS,
    ) -> None:
        self.dtype = np.dtype(dtype)
        self.params: list[NDArray] = [
            init_weight(init, rng, (hidden_size, vocab_size), init_std, self.dtype),
            np.zeros(vocab_size, dtype=self.dtype),
        ]
        self.grads: list[NDArray] = [np.zeros_like(p) for p in self.params]
        self.param_names = ["W", "b"]
        self.block_rows = block_rows
        self._dhs: NDArray | None = None
        self._exp = np.empty((0, vocab_size), self.dtype)  # (M, V) exp(logits), reused
        self._ones = np.ones(vocab_size, self.dtype)
        self._shard_grads: list[tuple[NDArray, NDArray]] = []  # dW, db of shards 1.. (0: grads)

    def _exp_buffer(self, M: int) -> NDArray:
        """(M, V) scratch for exp(logits), kept between calls: no 20 MB malloc per step."""
        if len(self._exp) < M:
            self._exp = np.empty((M, self._exp.shape[1]), self.dtype)
        return self._exp[:M]

    def _logit_bounds(self, h2: NDArray) -> NDArray:
        """|logit| bound per row (M,): ||h_k|| max_j ||W_j|| + max |b| (Cauchy-Schwarz)."""
        W, b = self.params
        col_norm = float(np.sqrt(np.max(np.einsum("hv,hv->v", W, W))))
        return np.sqrt(np.einsum("mh,mh->m", h2, h2)) * col_norm + float(np.max(np.abs(b)))

    def _block_exp(
        self, h: NDArray, targets: NDArray, bound: float, out: NDArray, sums: NDArray
    ) -> float:
        """exp(h @ W + b - shift) into out (rows, V), row sums into sums; summed cross-entropy.

        The shift (the row max) only guards exp against overflow; when every |logit| <= EXP_SAFE
        it is skipped: no max and no subtract pass (saved ~1.8 ms of ~75 ms CPU per step).
        """
        W, b = self.params
        np.matmul(h, W, out=out)
        out += b
        if bound > EXP_SAFE:
            out -= out.max(axis=1, keepdims=True)
        target_logits = out[np.arange(len(targets)), targets]
        np.exp(out, out=out)
        np.matmul(out, self._ones, out=sums)  # row sums as a GEMV: 3x faster than .sum(axis=1)
        # -log p_t = log(sum exp) - logit_t: exact where p_t would underflow in float32
        return float((np.log(sums) - target_logits).sum(dtype=np.float64))

    def _shard_exp(
        self, h2: NDArray, t2: NDArray, bounds: NDArray, E: NDArray, sums: NDArray, rows: slice
    ) -> float:
        """exp(logits) of rows, block by block (see BLOCK_ROWS); the summed loss."""
        loss = 0.0
        for start in range(rows.start, rows.stop, self.block_rows):
            block = slice(start, min(start + self.block_rows, rows.stop))
            bound = float(bounds[block].max())
            loss += self._block_exp(h2[block], t2[block], bound, E[block], sums[block])
        return loss

    def _shard_backward(
        self,
        h2: NDArray,
        t2: NDArray,
        E: NDArray,
        sums: NDArray,
        dh2: NDArray,
        shard: int,
        rows: slice,
        M: int,
    ) -> None:
        """The shard's dh rows, dW and db of the mean loss over M rows.

        d loss / d logits = (E - s * onehot) / s / M with E = exp(logits), s its row sums. The
        (rows, V) matrix is never normalised: the row scale 1 / (s M) goes on the small h
        (before dW) and on the small dh (after), which saves two passes over E (~3 ms per step).
        """
        W = self.params[0]
        E = E[rows]  # (rows, V)
        s = sums[rows]
        E[np.arange(len(E)), t2[rows]] -= s  # E - s * onehot
        scale = (1.0 / (s * M)).astype(self.dtype)  # (rows,)
        dh = dh2[rows]
        np.matmul(E, W.T, out=dh)  # (rows, H)
        dh *= scale[:, None]
        dW, db = self.grads if shard == 0 else self._shard_grads[shard - 1]
        np.matmul((h2[rows] * scale[:, None]).T, E, out=dW)  # (H, V)
        np.matmul(scale, E, out=db)  # (V,)

    def _prepare(self, hs: NDArray, targets: NDArray) -> tuple[Any, ...]:
        """Rows h2 (M, H), targets (M,), the exp buffer, row sums, logit bounds and shards."""
        N, T, H = hs.shape
        M = N * T
        h2 = np.ascontiguousarray(hs.reshape(M, H), dtype=self.dtype)
        return (
            h2,
            targets.reshape(M),
            self._exp_buffer(M),
            np.empty(M, self.dtype),
            self._logit_bounds(h2),
            shard_slices(M),
        )

    def forward(self, hs: NDArray, targets: NDArray, need_grad: bool = True) -> float:
        N, T, H = hs.shape
        M = N * T
        h2, t2, E, sums, bounds, shards = self._prepare(hs, targets)
        dh2 = np.empty((M, H), self.dtype) if need_grad else None
        while need_grad and len(self._shard_grads) < len(shards) - 1:
            self._shard_grads.append((np.empty_like(self.grads[0]), np.empty_like(self.grads[1])))

        def run(shard: int) -> float:
            loss = self._shard_exp(h2, t2, bounds, E, sums, shards[shard])
            if dh2 is not None:
                self._shard_backward(h2, t2, E, sums, dh2, shard, shards[shard], M)
            return loss

        losses = parallel_map(run, range(len(shards)))
        if dh2 is not None:
            dW, db = self.grads
            for dW_s, db_s in self._shard_grads[: len(shards) - 1]:  # fixed order: deterministic
                dW += dW_s
                db += db_s
            self._dhs = dh2.reshape(N, T, H)
        return sum(losses) / M

    def backward(self) -> NDArray:
        """d mean loss / d hs (N, T, H), computed by forward(need_grad=True)."""
        assert self._dhs is not None, "backward() before forward()"
        return self._dhs

    def evaluate(self, hs: NDArray, targets: NDArray) -> tuple[float, int]:
        """(summed cross-entropy, number of top-1 hits) over hs (N, T, H) and targets (N, T)."""
        h2, t2, E, sums, bounds, shards = self._prepare(hs, targets)

        def run(shard: int) -> tuple[float, int]:
            rows = shards[shard]
            loss = self._shard_exp(h2, t2, bounds, E, sums, rows)
            return loss, int((E[rows].argmax(axis=1) == t2[rows]).sum())  # argmax exp = argmax p

        results = parallel_map(run, range(len(shards)))
        return sum(r[0] for r in results), sum(r[1] for r in results)

    def last_step_logits(self, h: NDArray) -> NDArray:
        """Logits (N, V) for hidden states h (N, H): the serving path."""
        W, b = self.params
        return h @ W + b
