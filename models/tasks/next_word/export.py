"""A next-word model as a portable graph (models/tasks/export.py): input `ids` (int64 [N, T], ids
of the dictionary in the metadata, one context length per batch); outputs `logits` and
`probabilities` ([N, V]) of the word after each context."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from numpy.typing import NDArray

from rnnlab.models.tasks.export import GraphSpec, TensorSpec
from rnnlab.models.tasks.next_word.config import NextWordConfig
from rnnlab.models.text import UNKNOWN_TOKEN

PREPROCESSING = (
    "lower-case; newline -> space; delete every character but a-z, space, apostrophe and "
    "hyphen; split on spaces; drop words starting with '-'; a word not in the dictionary is "
    "id 0, the unknown token"
)


def _logits(g: GraphSpec, config: NextWordConfig, last: str) -> str:
    """last [N, H] @ W_out + b; tied, W_out is the embedding's matrix transposed (stored once)."""
    if config.tie_weights:
        return g.op("Gemm", [last, g.weight("embed.W"), g.weight("out.b")], transB=1)
    return g.op("Add", [g.op("MatMul", [last, g.weight("out.W")]), g.weight("out.b")])


def export_graph(
    config: NextWordConfig, weights: Mapping[str, NDArray], words: Sequence[str] | None
) -> GraphSpec:
    if words is None:
        raise ValueError("a next-word graph carries its corpus dictionary")
    g = GraphSpec(dict(weights))
    x = g.op("Gather", [g.weight("embed.W"), "ids"])  # [N, T, E]
    h = last = g.op("Transpose", [x], perm=[1, 0, 2])  # [T, N, E]
    for i in range(config.num_layers):
        h, last = g.recurrent(config.cell, h, f"{config.cell}{i}", "tanh")
    logits = _logits(g, config, last)
    V = len(words)
    g.inputs = [TensorSpec("ids", "int64", ("N", "T"))]
    g.output(logits, "logits", "float", ("N", V))
    g.output(g.op("Softmax", [logits], axis=-1), "probabilities", "float", ("N", V))
    g.doc = "the distribution of the word after each context of ids (rnnlab.dictionary)"
    g.metadata = {
        "rnnlab.dictionary": json.dumps(list(words)),
        "rnnlab.unknown_token": UNKNOWN_TOKEN,
        "rnnlab.preprocessing": PREPROCESSING,
    }
    return g
