"""A binary-addition model as a portable graph (models/tasks/export.py): inputs `a`, `b` (int64,
[N]); outputs `sum` (int64 [N]), `bits` and `probabilities` ([N, binary_dim], most significant
first), as GET /predict answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from rnnlab.models.tasks.binary_addition.config import BinaryAdditionConfig
from rnnlab.models.tasks.export import GraphSpec, TensorSpec


def export_graph(
    config: BinaryAdditionConfig, weights: Mapping[str, NDArray], words: Sequence[str] | None
) -> GraphSpec:
    T = config.binary_dim
    g = GraphSpec(dict(weights))
    powers = g.const("powers_of_two", (2 ** np.arange(T)).astype(np.int64))  # bit t is worth 2^t
    two = g.const("two", np.array(2, np.int64))
    axis1, axis2 = (
        g.const("axis1", np.array([1], np.int64)),
        g.const("axis2", np.array([2], np.int64)),
    )
    bits = []
    for operand in ("a", "b"):  # [N] -> [N, T, 1], least significant bit first
        shifted = g.op("Div", [g.op("Unsqueeze", [operand, axis1]), powers])
        bits.append(g.op("Unsqueeze", [g.op("Mod", [shifted, two]), axis2]))
    x = g.op("Cast", [g.op("Concat", bits, axis=2)], to="float")  # [N, T, 2]
    h = g.op("Transpose", [x], perm=[1, 0, 2])  # [T, N, 2]
    for i in range(config.num_layers):
        h, _ = g.recurrent(config.cell, h, f"rnn{i}", config.activation)
    logits = g.op("MatMul", [h, g.weight("out.W")])  # [T, N, 1]
    if "out.b" in weights:
        logits = g.op("Add", [logits, g.weight("out.b")])
    logits = g.op("Transpose", [g.op("Squeeze", [logits, axis2])], perm=[1, 0])  # [N, T]
    probabilities = g.op("Sigmoid", [logits])
    above_half = g.op("Greater", [probabilities, g.const("half", np.array(0.5, np.float32))])
    bit_values = g.op("Cast", [above_half], to="int64")
    total = g.op("ReduceSum", [g.op("Mul", [bit_values, powers]), axis1], keepdims=0)
    reverse = g.const("most_significant_first", np.arange(T - 1, -1, -1, dtype=np.int64))
    g.inputs = [TensorSpec(name, "int64", ("N",)) for name in ("a", "b")]
    g.output(total, "sum", "int64", ("N",))
    g.output(g.op("Gather", [bit_values, reverse], axis=1), "bits", "int64", ("N", T))
    g.output(g.op("Gather", [probabilities, reverse], axis=1), "probabilities", "float", ("N", T))
    g.doc = f"a + b for a, b in 0..{config.max_operand}; bits and P(bit = 1) most significant first"
    return g
