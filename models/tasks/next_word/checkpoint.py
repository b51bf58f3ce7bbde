"""A next-word run's state as a flat dict of arrays, from which training resumes bit for bit.

Keys: weights.<name>, optim.<slot>.<i>, carry.<layer>.<h|c> (the state carried between
windows), rng, config (JSON bytes), step, epoch, position (the next batch), loss_sum, loss_count.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict

import numpy as np
from numpy.random import Generator
from numpy.typing import NDArray

from rnnlab.models.optim import Optimizer
from rnnlab.models.tasks.next_word.config import NextWordConfig
from rnnlab.models.tasks.next_word.model import NextWordModel
from rnnlab.models.training import Start, rng_from_array, rng_to_array


def checkpoint(
    config: NextWordConfig,
    model: NextWordModel,
    optimizer: Optimizer,
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


def restore(
    state: Mapping[str, NDArray], config: NextWordConfig, model: NextWordModel, optimizer: Optimizer
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


def start_from(start: Start, model: NextWordModel, optimizer: Optimizer) -> None:
    """Load a trained model's weights, and the optimiser state of its run's checkpoint when
    `start` has one (else the optimiser starts fresh)."""
    model.load_weights(start.weights)
    if start.checkpoint is not None:
        optimizer.load_state_dict(
            {k[6:]: v for k, v in start.checkpoint.items() if k.startswith("optim.")}
        )
