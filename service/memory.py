"""How much memory a job will need, estimated from its hyperparameters before it is queued.

The estimates are deliberately simple upper bounds (float32 = 4 bytes): what matters is refusing
a job that would certainly not fit (a vocabulary-sized output layer with a huge batch, a
hidden_size of thousands) before it takes a worker down, not predicting RSS to the megabyte.
"""

from __future__ import annotations

from models.binary_addition import BinaryAdditionConfig
from models.next_word import NextWordConfig

FLOAT = 4
BASELINE = 96 * 2**20  # the interpreter, numpy and SQLAlchemy in a worker process
# Rows x steps of the largest evaluation batch, bounded: chunks of 2,048 pairs x binary_dim
# steps, or at most 65,536 bit prefixes in one step of the exhaustive check (binary_dim <= 9).
EVAL_PAIRS = 8192
OPTIMIZER_COPIES = 4  # weights, gradients and Adam's two moments


def binary_addition_bytes(config: BinaryAdditionConfig) -> int:
    hidden, steps, layers = config.hidden_size, config.binary_dim, config.num_layers
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[config.cell]
    parameters = layers * gates * (hidden * hidden + 2 * hidden + hidden) + hidden + 1
    rows = max(config.batch_size, EVAL_PAIRS)
    # Per row and step each layer caches its gate pre-activations, outputs and gradients.
    activations = rows * steps * layers * hidden * (gates * 3 + 4)
    return BASELINE + FLOAT * (OPTIMIZER_COPIES * parameters + activations)


def next_word_bytes(config: NextWordConfig, tokens: int, vocabulary: int) -> int:
    hidden, embedding, layers = config.hidden_size, config.embedding_size, config.num_layers
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[config.cell]
    recurrent = gates * hidden * (embedding + hidden + 2) + (layers - 1) * gates * hidden * (
        2 * hidden + 2
    )
    parameters = vocabulary * embedding + recurrent + vocabulary * (hidden + 1)
    window = config.batch_size * (config.chunk_size if config.mode == "chunk" else config.seq_len)
    activations = window * (embedding + layers * hidden * (gates * 3 + 4))
    # The output layer works on blocks of rows, but a window's logits may exist whole once.
    logits = 2 * window * vocabulary
    token_ids = 3 * tokens  # the stored ids, their int32 copy and the batch streams
    return BASELINE + FLOAT * (OPTIMIZER_COPIES * parameters + activations + logits + token_ids)


def mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB"
