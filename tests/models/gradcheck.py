"""Centred finite-difference gradient checks in float64, shared by the model tests.

numerical_gradient(f, array)             d f() / d array, f a zero-argument scalar function
relative_error(analytic, numeric)        ||a - n|| / max(||a||, ||n||)
check_layer_gradients(layer, xs, seed)   every param grad and dx of a Time* layer (masks: fixed
                                         dropout masks handed to every forward)
randomize(layer, rng)                    non-trivial values in every parameter

The one harness of the model tests: every backward pass is checked through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

TOLERANCE = 1e-6


def numerical_gradient(f: Callable[[], float], array: NDArray, eps: float = 1e-6) -> NDArray:
    """Centred differences of the scalar f() w.r.t. every entry of `array` (perturbed in place,
    restored afterwards). `array` must be float64 for the result to be meaningful."""
    assert array.dtype == np.float64, "finite differences need float64"
    grad = np.zeros_like(array)
    flat, gflat = array.reshape(-1), grad.reshape(-1)  # views: array is contiguous
    assert np.shares_memory(flat, array), "array must be contiguous"
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = f()
        flat[i] = old - eps
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def relative_error(analytic: NDArray, numeric: NDArray) -> float:
    """Norm-wise relative error; 0 when both are exactly zero."""
    scale = max(float(np.linalg.norm(analytic)), float(np.linalg.norm(numeric)))
    if scale == 0.0:
        return 0.0
    return float(np.linalg.norm(analytic - numeric)) / scale


def assert_gradient_close(
    analytic: NDArray, numeric: NDArray, what: str, tol: float = TOLERANCE
) -> float:
    assert analytic.shape == numeric.shape, f"{what}: shape {analytic.shape} != {numeric.shape}"
    err = relative_error(analytic, numeric)
    assert err < tol, f"{what}: relative error {err:.2e} >= {tol:.0e}"
    return err


def _copy_state(layer: Any) -> dict[str, NDArray] | None:
    if not hasattr(layer, "get_state"):
        return None
    return {k: np.array(v, copy=True) for k, v in layer.get_state().items()}


def check_layer_gradients(
    layer: Any,
    xs: NDArray,
    dhs_seed: int = 0,
    *,
    check_input: bool = True,
    eps: float = 1e-6,
    tol: float = TOLERANCE,
    masks: Any = None,
) -> dict[str, float]:
    """Check layer.backward against finite differences of L = sum(layer.forward(xs) * R).

    R is a fixed standard-normal array drawn from `dhs_seed`. The layer must be float64. A
    stateful layer's current state (get_state) is restored before every forward, so the check
    covers a window that starts from a carried state. Returns the relative error per gradient
    ("d<param name>", "dxs") and raises AssertionError when one is >= tol.
    """
    state = _copy_state(layer)

    def forward() -> NDArray:
        if state is not None:
            layer.set_state({k: v.copy() for k, v in state.items()})
        return layer.forward(xs) if masks is None else layer.forward(xs, masks)

    R = np.random.default_rng(dhs_seed).standard_normal(forward().shape)

    def loss() -> float:
        return float(np.sum(forward() * R))

    forward()
    dxs = layer.backward(R.copy())
    analytic = [g.copy() for g in layer.grads]
    errors = {}
    for name, p, g in zip(layer.param_names, layer.params, analytic, strict=True):
        errors[f"d{name}"] = assert_gradient_close(
            g, numerical_gradient(loss, p, eps), f"d{name}", tol
        )
    if check_input:
        errors["dxs"] = assert_gradient_close(dxs, numerical_gradient(loss, xs, eps), "dxs", tol)
    if state is not None:  # leave the layer as we found it
        layer.set_state(state)
    return errors


def randomize(layer: Any, rng: np.random.Generator, scale: float = 0.5) -> None:
    """Non-trivial values everywhere (biases and peepholes start at constants)."""
    for p in layer.params:
        p[...] = scale * rng.standard_normal(p.shape)
