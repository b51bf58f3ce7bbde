"""Hidden-layer activations as (fn, grad) pairs; grad takes the input u and the output z = fn(u).

These are the plain functions the reference layers use: sigmoid(u) = 1 / (1 + e^-u), computed
so that exp is only taken of non-positive numbers (no overflow for very negative u), and
numpy's tanh.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

ACTIVATIONS = ("sigmoid", "tanh", "relu")


def sigmoid(u: NDArray) -> NDArray:
    """1 / (1 + e^-u), element-wise; e^-|u| keeps exp away from overflow."""
    e = np.exp(-np.abs(u))
    return np.where(u >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(u.dtype, copy=False)


def tanh(u: NDArray) -> NDArray:
    return np.tanh(u)


def relu(u: NDArray) -> NDArray:
    return np.maximum(u, 0)


def _sigmoid_grad(u: NDArray, z: NDArray) -> NDArray:
    return z * (1.0 - z)


def _tanh_grad(u: NDArray, z: NDArray) -> NDArray:
    return 1.0 - z * z


def _relu_grad(u: NDArray, z: NDArray) -> NDArray:
    return (u > 0).astype(u.dtype)


class Activation(NamedTuple):
    name: str
    fn: Callable[[NDArray], NDArray]
    grad: Callable[[NDArray, NDArray], NDArray]  # dz/du given (u, z)


_ACTIVATIONS = {
    "sigmoid": Activation("sigmoid", sigmoid, _sigmoid_grad),
    "tanh": Activation("tanh", np.tanh, _tanh_grad),
    "relu": Activation("relu", relu, _relu_grad),
}


def activation(name: str) -> Activation:
    """The activation called `name` (one of ACTIVATIONS)."""
    if name not in _ACTIVATIONS:
        raise ValueError(
            f"unknown activation {name!r}: allowed values are {', '.join(ACTIVATIONS)}"
        )
    return _ACTIVATIONS[name]
