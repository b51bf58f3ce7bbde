"""A trained model as an ONNX graph, built with the `onnx` package from the portable graph its
task writes (`Task.export_graph`, models/tasks/export.py) over its stored npz arrays.

The recurrent layers become ONNX's own RNN, LSTM and GRU operators; what differs between their
conventions and ours is a reordering of the fused gate blocks (ours are torch's):

- LSTM: ours (i, f, g, o) -> ONNX (i, o, f, c); peepholes ours rows (i, f, o) -> ONNX (i, o, f).
- GRU: ours (r, z, n) -> ONNX (z, r, h), with `linear_before_reset=1` (the reset gate multiplies
  the hidden projection with its bias `bh`, as torch and ours do).
- Weights are transposed: ours multiply from the right (x Wx), ONNX's from the left (W x).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from rnnlab.models.tasks import Task
from rnnlab.models.tasks.export import GraphSpec, Node, RecurrentStep

OPSET = 17
ONNX_ACTIVATIONS = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu"}
ELEMENT_TYPES = {"int64": TensorProto.INT64, "float": TensorProto.FLOAT}


def _blocks(a: NDArray, order: Sequence[int], hidden: int, axis: int = -1) -> NDArray:
    """`a` with its gate blocks of width `hidden` along `axis` put in `order`."""
    parts = np.split(a, a.shape[axis] // hidden, axis=axis)
    return np.concatenate([parts[i] for i in order], axis=axis)


class _Graph:
    """Nodes and initialisers collected while the graph is written."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def const(self, name: str, value: NDArray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], outputs: int = 1, **attrs: Any) -> Any:
        self._count += 1
        names = [f"{op_type.lower()}_{self._count}_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, **attrs))
        return names[0] if outputs == 1 else names

    def recurrent(
        self, cell: str, x: str, w: dict[str, NDArray], prefix: str, activation: str
    ) -> tuple[str, str]:
        """One recurrent layer over x [T, N, D]: (Y [T, N, H], Y_h [N, H])."""
        H = w[f"{prefix}.Wh"].shape[0]
        Wx, Wh = w[f"{prefix}.Wx"], w[f"{prefix}.Wh"]
        arrays: list[NDArray]  # W, R, B in ONNX's layout
        order: tuple[int, ...]
        attrs: dict[str, Any] = {"hidden_size": H}
        if cell == "rnn":
            b = w.get(f"{prefix}.b", np.zeros(H, np.float32))
            arrays = [Wx.T, Wh.T, np.concatenate([b, np.zeros(H, np.float32)])]
            op_type, attrs["activations"] = "RNN", [ONNX_ACTIVATIONS[activation]]
        elif cell == "lstm":
            order = (0, 3, 1, 2)  # (i, f, g, o) -> (i, o, f, c)
            b = _blocks(w[f"{prefix}.b"], order, H)
            arrays = [_blocks(Wx, order, H).T, _blocks(Wh, order, H).T]
            arrays.append(np.concatenate([b, np.zeros(4 * H, np.float32)]))
            op_type = "LSTM"
        elif cell == "gru":
            order = (1, 0, 2)  # (r, z, n) -> (z, r, h)
            hidden_bias = np.concatenate([np.zeros(2 * H, np.float32), w[f"{prefix}.bh"]])
            arrays = [_blocks(Wx, order, H).T, _blocks(Wh, order, H).T]
            arrays.append(np.concatenate([_blocks(w[f"{prefix}.b"], order, H), hidden_bias]))
            op_type, attrs["linear_before_reset"] = "GRU", 1
        else:
            raise ValueError(f"unknown cell {cell!r}")
        names = [self.const(f"{prefix}.{n}", a[None]) for n, a in zip("WRB", arrays, strict=True)]
        if cell == "lstm" and f"{prefix}.p" in w:
            p = w[f"{prefix}.p"]  # rows (i, f, o) -> (i, o, f)
            names += [
                "",
                "",
                "",
                self.const(f"{prefix}.P", np.concatenate([p[0], p[2], p[1]])[None]),
            ]
        outputs = 3 if cell == "lstm" else 2
        y, y_h, *_ = self.op(op_type, [x, *names], outputs=outputs, **attrs)
        zero = self.const(f"{prefix}.axis", np.array([1], np.int64))
        last = self.const(f"{prefix}.axis0", np.array([0], np.int64))
        return self.op("Squeeze", [y, zero]), self.op("Squeeze", [y_h, last])

    def model(
        self,
        inputs: list[onnx.ValueInfoProto],
        outputs: list[onnx.ValueInfoProto],
        doc: str,
        metadata: dict[str, str],
    ) -> bytes:
        graph = helper.make_graph(
            self.nodes, "rnnlab", inputs, outputs, self.initializers, doc_string=doc
        )
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="rnnlab"
        )
        model.ir_version = 8  # readable by onnxruntime >= 1.14
        helper.set_model_props(model, metadata)
        onnx.checker.check_model(model, full_check=True)
        return model.SerializeToString()


def _onnx_attrs(node: Node) -> dict[str, Any]:
    """The node's attributes, an element type (Cast's `to`) as ONNX's number for it."""
    return {k: ELEMENT_TYPES[v] if k == "to" else v for k, v in node.attrs.items()}


def _build(spec: GraphSpec) -> _Graph:
    """The ONNX nodes and initialisers of a task's portable graph."""
    g = _Graph()
    for name, value in spec.constants.items():
        g.const(name, value)
    for step in spec.steps:
        if isinstance(step, RecurrentStep):
            y, y_last = g.recurrent(step.cell, step.x, spec.weights, step.prefix, step.activation)
            g.nodes.append(helper.make_node("Identity", [y], [step.y]))
            g.nodes.append(helper.make_node("Identity", [y_last], [step.y_last]))
        else:
            g.nodes.append(
                helper.make_node(
                    step.op, list(step.inputs), list(step.outputs), **_onnx_attrs(step)
                )
            )
    return g


def _tensor(name: str, kind: str, shape: Sequence[Any]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, ELEMENT_TYPES[kind], list(shape))


def export_onnx(
    model_id: int,
    task: Task,
    hyperparams: dict[str, Any],
    weights: dict[str, NDArray],
    words: Sequence[str] | None = None,
) -> bytes:
    """The serialized ONNX model of the graph `task` writes; a task on a corpus gets `words`
    (its dictionary, by id), which it may put in the metadata for a client to read."""
    if task.export_graph is None:
        raise ValueError(f"a {task.name} model has no ONNX export")
    w = {name: np.asarray(a, np.float32) for name, a in weights.items()}
    spec = task.export_graph(task.make_config(hyperparams), w, words)
    metadata = {
        "rnnlab.model_id": str(model_id),
        "rnnlab.task": task.name,
        "rnnlab.hyperparams": json.dumps(hyperparams, sort_keys=True),
        **spec.metadata,
    }
    inputs = [_tensor(t.name, t.kind, t.shape) for t in spec.inputs]
    outputs = [_tensor(t.name, t.kind, t.shape) for t in spec.outputs]
    return _build(spec).model(inputs, outputs, spec.doc, metadata)
