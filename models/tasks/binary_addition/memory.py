"""An upper bound of the memory a binary-addition job needs (see models/tasks/memory.py)."""

from __future__ import annotations

from rnnlab.models.tasks.binary_addition.config import BinaryAdditionConfig
from rnnlab.models.tasks.memory import BASELINE, FLOAT, GATES, OPTIMIZER_COPIES

# Rows x steps of the largest evaluation batch, bounded: chunks of 2,048 pairs x binary_dim
# steps, or at most 65,536 bit prefixes in one step of the exhaustive check (binary_dim <= 9).
EVAL_PAIRS = 8192


def memory_bytes(config: BinaryAdditionConfig) -> int:
    hidden, steps, layers = config.hidden_size, config.binary_dim, config.num_layers
    gates = GATES[config.cell]
    parameters = layers * gates * (hidden * hidden + 2 * hidden + hidden) + hidden + 1
    rows = max(config.batch_size, EVAL_PAIRS)
    # Per row and step each layer caches its gate pre-activations, outputs and gradients.
    activations = rows * steps * layers * hidden * (gates * 3 + 4)
    # Dropout (training batches only): each layer's masked inputs and masked states.
    inputs = 2 + (layers - 1) * hidden if config.dropout > 0 else 0
    states = layers * hidden if config.recurrent_dropout > 0 else 0
    activations += config.batch_size * steps * (inputs + states)
    # a fixed training set: two int64 operands a pair, an epoch's order and their keys
    training_set = 8 * 4 * config.train_samples
    copies = OPTIMIZER_COPIES + int(config.validates and config.restore_best)  # the best weights
    return BASELINE + FLOAT * (copies * parameters + activations) + training_set
