"""The output affine hidden -> vocabulary fused with softmax cross-entropy, in row shards.

The same numbers as models/layers/output.py (``AffineSoftmax``) to float rounding, faster. The
output layer is most of a word model's training time (three (rows x H x V) products a step), so
``SoftmaxOutput``
- splits the rows into ``parallel.SHARDS`` shards run on the training thread pool
  (rnnlab.models.parallel), each with its own dW/db, summed in shard order so that the weights never
  depend on the thread count;
- makes the logits and their exp block by block, skips the max-subtraction when a
  Cauchy-Schwarz bound shows that exp cannot overflow, and never normalises the (rows, V)
  probabilities: the 1 / (row sum * M) goes on the small h and dh instead;
- takes row sums and db as matrix-vector products, which BLAS does faster than ``.sum(axis=)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike, NDArray

from rnnlab.models.init import init_weight
from rnnlab.models.parallel import parallel_map, shard_slices

# Rows per block of the forward product + exp, which bounds the rows one GEMM sees (and the
# scratch it needs). Large blocks let BLAS run one big product, which measured faster than
# L2-sized blocks; see bench/next_word.py to measure it on your machine.
BLOCK_ROWS = 1024

# exp(x) neither overflows nor underflows to 0 in float32 for |x| <= 87; with a margin for the sum
# of V terms, logits bounded by this need no max subtraction before exp.
EXP_SAFE = 60.0


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
        """(M, V) scratch for exp(logits), kept between calls: no large allocation per step."""
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
        it is skipped: no max and no subtract pass over the (rows, V) block.
        """
        W, b = self.params
        np.matmul(h, W, out=out)
        out += b
        if bound > EXP_SAFE:
            out -= out.max(axis=1, keepdims=True)
        target_logits = out[np.arange(len(targets)), targets]
        np.exp(out, out=out)
        np.matmul(out, self._ones, out=sums)  # row sums as a GEMV (see the module docstring)
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
        (before dW) and on the small dh (after), which saves two passes over E.
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
