"""An upper bound of the memory a next-word job needs (see models/tasks/memory.py)."""

from __future__ import annotations

from rnnlab.models.tasks.memory import BASELINE, FLOAT, GATES, OPTIMIZER_COPIES
from rnnlab.models.tasks.next_word.config import NextWordConfig


def dropout_copies(config: NextWordConfig) -> int:
    """Floats per window position that dropout adds: each layer's masked inputs, and the
    masked states its backward pass multiplies by the recurrent weights' gradient."""
    hidden, layers = config.hidden_size, config.num_layers
    inputs = config.embedding_size + (layers - 1) * hidden if config.dropout > 0 else 0
    states = layers * hidden if config.recurrent_dropout > 0 else 0
    return inputs + states


def memory_bytes(config: NextWordConfig, tokens: int, vocabulary: int) -> int:
    hidden, embedding, layers = config.hidden_size, config.embedding_size, config.num_layers
    gates = GATES[config.cell]
    recurrent = gates * hidden * (embedding + hidden + 2) + (layers - 1) * gates * hidden * (
        2 * hidden + 2
    )
    # tied: the output layer's matrix is the embedding's, counted once; the output layer still
    # fills a gradient of its own, which is added into the embedding's
    output = vocabulary if config.tie_weights else vocabulary * (hidden + 1)
    parameters = vocabulary * embedding + recurrent + output
    output_gradient = vocabulary * hidden if config.tie_weights else 0
    window = config.batch_size * (config.chunk_size if config.mode == "chunk" else config.seq_len)
    activations = window * (embedding + layers * hidden * (gates * 3 + 4))
    activations += window * dropout_copies(config)
    # The output layer works on blocks of rows, but a window's logits may exist whole once.
    logits = 2 * window * vocabulary
    token_ids = 3 * tokens  # the stored ids, their int32 copy and the batch streams
    copies = OPTIMIZER_COPIES + int(config.validates and config.restore_best)  # the best weights
    return BASELINE + FLOAT * (
        copies * parameters + output_gradient + activations + logits + token_ids
    )
