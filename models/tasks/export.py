"""What a trained model is as a portable graph, in plain data and numpy: its inputs and outputs,
its constants and its operators in order, ONNX's names for them (Gather, MatMul, Sigmoid, ...),
and each recurrent layer as one step that names the layer's weights. A task writes its graph
with a `GraphSpec`; the service turns it into an ONNX file (service/catalog/onnx_export.py),
which is the one place that imports `onnx` and knows how ONNX lays out a recurrent layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

Kind = Literal["int64", "float"]


@dataclass(frozen=True)
class TensorSpec:
    """A graph input or output: its name, element type and shape (a str is a free dimension)."""

    name: str
    kind: Kind
    shape: tuple[int | str, ...]


@dataclass(frozen=True)
class Node:
    """One operator: ONNX's name for it, its input and output names, its attributes."""

    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecurrentStep:
    """A recurrent layer over x [T, N, D] whose weights are `prefix`.Wx, .Wh, .b (and .bh, .p
    where the cell has them, as models/layers names them): y [T, N, H] and its last step
    y_last [N, H]."""

    cell: str
    prefix: str
    activation: str
    x: str
    y: str
    y_last: str


@dataclass
class GraphSpec:
    """A task's graph, written step by step; names of intermediate values are made up here."""

    weights: dict[str, NDArray]  # the model's, float32, by parameter name
    constants: dict[str, NDArray] = field(default_factory=dict)
    steps: list[Node | RecurrentStep] = field(default_factory=list)
    inputs: list[TensorSpec] = field(default_factory=list)
    outputs: list[TensorSpec] = field(default_factory=list)
    doc: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    _count: int = 0

    def const(self, name: str, value: NDArray) -> str:
        self.constants[name] = np.ascontiguousarray(value)
        return name

    def weight(self, name: str) -> str:
        """A weight of the model as a constant of the graph."""
        return self.const(name, self.weights[name])

    def op(self, op: str, inputs: Sequence[str], outputs: int = 1, **attrs: Any) -> Any:
        """The name of the operator's output (a list of names when it has several)."""
        self._count += 1
        names = tuple(f"{op.lower()}_{self._count}_{i}" for i in range(outputs))
        self.steps.append(Node(op, tuple(inputs), names, attrs))
        return names[0] if outputs == 1 else list(names)

    def recurrent(self, cell: str, x: str, prefix: str, activation: str) -> tuple[str, str]:
        self._count += 1
        y, y_last = f"{prefix}_{self._count}_y", f"{prefix}_{self._count}_last"
        self.steps.append(RecurrentStep(cell, prefix, activation, x, y, y_last))
        return y, y_last

    def output(self, source: str, name: str, kind: Kind, shape: tuple[int | str, ...]) -> None:
        """Publish `source` as the graph output `name`."""
        self.steps.append(Node("Identity", (source,), (name,)))
        self.outputs.append(TensorSpec(name, kind, shape))
