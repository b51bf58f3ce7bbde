"""Gradient-descent optimisers updating parameter arrays in place, plus global-norm clipping."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

OPTIMIZERS = ("sgd", "momentum", "adagrad", "rmsprop", "adam")


class Optimizer:
    """Base: update(params, grads) in place; per-parameter state is made on the first call.

    State is a flat dict of arrays ("<slot>.<index>", plus "t" for Adam) so that a checkpoint
    restores it bit for bit.
    """

    slots: tuple[str, ...] = ()

    def __init__(self, lr: float) -> None:
        self.lr = float(lr)
        self.state: dict[str, NDArray] = {}

    def update(self, params: list[NDArray], grads: list[NDArray]) -> None:
        if not self.state and self.slots:
            for slot in self.slots:
                for i, p in enumerate(params):
                    self.state[f"{slot}.{i}"] = np.zeros_like(p)
        self._update(params, grads)

    def _update(self, params: list[NDArray], grads: list[NDArray]) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, NDArray]:
        return {k: v.copy() for k, v in self.state.items()}

    def load_state_dict(self, d: dict[str, NDArray]) -> None:
        self.state = {k: np.array(v, copy=True) for k, v in d.items()}


class SGD(Optimizer):
    def _update(self, params: list[NDArray], grads: list[NDArray]) -> None:
        for p, g in zip(params, grads, strict=True):
            p -= self.lr * g


class Momentum(Optimizer):
    slots = ("v",)

    def __init__(self, lr: float, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = momentum

    def _update(self, params: list[NDArray], grads: list[NDArray]) -> None:
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            v = self.state[f"v.{i}"]
            v *= self.momentum
            v -= self.lr * g
            p += v


class AdaGrad(Optimizer):
    slots = ("h",)

    def _update(self, params: list[NDArray], grads: list[NDArray]) -> None:
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            h = self.state[f"h.{i}"]
            h += g * g
            p -= self.lr * g / (np.sqrt(h) + 1e-7)


class RMSprop(Optimizer):
    slots = ("h",)

    def __init__(self, lr: float, decay: float = 0.99) -> None:
        super().__init__(lr)
        self.decay = decay

    def _update(self, params: list[NDArray], grads: list[NDArray]) -> None:
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            h = self.state[f"h.{i}"]
            h *= self.decay
            h += (1.0 - self.decay) * g * g
            p -= self.lr * g / (np.sqrt(h) + 1e-7)


class Adam(Optimizer):
    slots = ("m", "v")

    def __init__(
        self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        super().__init__(lr)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self._scratch: list[NDArray] = []  # not state: recreated after a restore

    def _update(self, params: list[NDArray], grads: list[NDArray]) -> None:
        t = int(self.state.get("t", np.array(0))) + 1
        self.state["t"] = np.array(t, dtype=np.int64)
        # bias correction folded into the step size (Kingma & Ba, section 2)
        lr_t = float(self.lr * np.sqrt(1.0 - self.beta2**t) / (1.0 - self.beta1**t))
        if len(self._scratch) != len(params):
            self._scratch = [np.empty_like(p) for p in params]
        for i, (p, g, tmp) in enumerate(zip(params, grads, self._scratch, strict=True)):
            m, v = self.state[f"m.{i}"], self.state[f"v.{i}"]
            # The same arithmetic as m += (1-b1)(g-m) etc., in place through one scratch
            # buffer: no temporary arrays the size of the parameters on every step.
            np.subtract(g, m, out=tmp)
            tmp *= 1.0 - self.beta1
            m += tmp
            np.multiply(g, g, out=tmp)
            tmp -= v
            tmp *= 1.0 - self.beta2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp += self.eps
            np.divide(m, tmp, out=tmp)
            tmp *= lr_t
            p -= tmp


_CLASSES: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "adagrad": AdaGrad,
    "rmsprop": RMSprop,
    "adam": Adam,
}


def make_optimizer(name: str, learning_rate: float) -> Optimizer:
    """The optimiser called `name` (one of OPTIMIZERS) with default settings."""
    if name not in _CLASSES:
        raise ValueError(f"unknown optimizer {name!r}: allowed values are {', '.join(OPTIMIZERS)}")
    return _CLASSES[name](learning_rate)


def clip_grads(grads: list[NDArray], max_norm: float) -> float:
    """Scale all gradients in place so their global L2 norm is at most max_norm.

    Returns the norm before clipping.
    """
    # A dot product per array: no squared copy of every gradient.
    total = float(np.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads)))
    if total > max_norm:
        rate = max_norm / (total + 1e-6)
        for g in grads:
            g *= rate
    return total
