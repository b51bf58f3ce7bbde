"""A trained model as an ONNX graph, built with the `onnx` package from its stored npz arrays.

The recurrent layers become ONNX's own RNN, LSTM and GRU operators; what differs between their
conventions and ours is a reordering of the fused gate blocks (ours are torch's):

- LSTM: ours (i, f, g, o) -> ONNX (i, o, f, c); peepholes ours rows (i, f, o) -> ONNX (i, o, f).
- GRU: ours (r, z, n) -> ONNX (z, r, h), with `linear_before_reset=1` (the reset gate multiplies
  the hidden projection with its bias `bh`, as torch and ours do).
- Weights are transposed: ours multiply from the right (x Wx), ONNX's from the left (W x).

Graphs:
- binary_addition: inputs `a`, `b` (int64, [N]); outputs `sum` (int64 [N]), `bits` and
  `probabilities` ([N, binary_dim], most significant first), as GET /predict answers.
- next_word: input `ids` (int64 [N, T], ids of the dictionary in the metadata, one context
  length per batch); outputs `logits` and `probabilities` ([N, V]) of the word after each context.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
ONNX_ACTIVATIONS = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu"}
PREPROCESSING = (
    "lower-case; newline -> space; delete every character but a-z, space, apostrophe and "
    "hyphen; split on spaces; drop words starting with '-'; a word not in the dictionary is "
    "id 0, the unknown token"
)


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


def _rename(graph: _Graph, source: str, name: str) -> None:
    graph.nodes.append(helper.make_node("Identity", [source], [name]))


def binary_addition_onnx(hyperparams: dict[str, Any], w: dict[str, NDArray]) -> _Graph:
    T = int(hyperparams["binary_dim"])
    g = _Graph()
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
    x = g.op("Cast", [g.op("Concat", bits, axis=2)], to=TensorProto.FLOAT)  # [N, T, 2]
    h = g.op("Transpose", [x], perm=[1, 0, 2])  # [T, N, 2]
    for i in range(int(hyperparams["num_layers"])):
        h, _ = g.recurrent(hyperparams["cell"], h, w, f"rnn{i}", hyperparams["activation"])
    logits = g.op("MatMul", [h, g.const("out.W", w["out.W"])])  # [T, N, 1]
    if "out.b" in w:
        logits = g.op("Add", [logits, g.const("out.b", w["out.b"])])
    logits = g.op("Transpose", [g.op("Squeeze", [logits, axis2])], perm=[1, 0])  # [N, T]
    probabilities = g.op("Sigmoid", [logits])
    bit_values = g.op(
        "Cast",
        [g.op("Greater", [probabilities, g.const("half", np.array(0.5, np.float32))])],
        to=TensorProto.INT64,
    )
    total = g.op("ReduceSum", [g.op("Mul", [bit_values, powers]), axis1], keepdims=0)
    reverse = g.const("most_significant_first", np.arange(T - 1, -1, -1, dtype=np.int64))
    _rename(g, total, "sum")
    _rename(g, g.op("Gather", [bit_values, reverse], axis=1), "bits")
    _rename(g, g.op("Gather", [probabilities, reverse], axis=1), "probabilities")
    return g


def next_word_onnx(hyperparams: dict[str, Any], w: dict[str, NDArray]) -> _Graph:
    g = _Graph()
    x = g.op("Gather", [g.const("embed.W", w["embed.W"]), "ids"])  # [N, T, E]
    h = g.op("Transpose", [x], perm=[1, 0, 2])  # [T, N, E]
    cell = hyperparams["cell"]
    last = h
    for i in range(int(hyperparams["num_layers"])):
        h, last = g.recurrent(cell, h, w, f"{cell}{i}", "tanh")
    logits = g.op(
        "Add", [g.op("MatMul", [last, g.const("out.W", w["out.W"])]), g.const("out.b", w["out.b"])]
    )
    _rename(g, logits, "logits")
    _rename(g, g.op("Softmax", [logits], axis=-1), "probabilities")
    return g


def _tensor(name: str, kind: int, shape: list[Any]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, kind, shape)


def export_onnx(
    model_id: int,
    task: str,
    hyperparams: dict[str, Any],
    weights: dict[str, NDArray],
    words: list[str] | None = None,
    unknown_token: str | None = None,
) -> bytes:
    """The serialized ONNX model; for next word, `words` (the dictionary, by id) goes into its
    metadata so that a client can turn text into ids and ids into words."""
    w = {name: np.asarray(a, np.float32) for name, a in weights.items()}
    metadata = {
        "rnnlab.model_id": str(model_id),
        "rnnlab.task": task,
        "rnnlab.hyperparams": json.dumps(hyperparams, sort_keys=True),
    }
    if task == "binary_addition":
        T = int(hyperparams["binary_dim"])
        graph = binary_addition_onnx(hyperparams, w)
        inputs = [_tensor(n, TensorProto.INT64, ["N"]) for n in ("a", "b")]
        outputs = [
            _tensor("sum", TensorProto.INT64, ["N"]),
            _tensor("bits", TensorProto.INT64, ["N", T]),
            _tensor("probabilities", TensorProto.FLOAT, ["N", T]),
        ]
        doc = f"a + b for a, b in 0..{2 ** (T - 1) - 1}; bits and P(bit = 1) most significant first"
    else:
        assert words is not None
        V = len(words)
        graph = next_word_onnx(hyperparams, w)
        inputs = [_tensor("ids", TensorProto.INT64, ["N", "T"])]
        outputs = [_tensor(n, TensorProto.FLOAT, ["N", V]) for n in ("logits", "probabilities")]
        doc = "the distribution of the word after each context of ids (rnnlab.dictionary)"
        metadata["rnnlab.dictionary"] = json.dumps(words)
        metadata["rnnlab.unknown_token"] = unknown_token or ""
        metadata["rnnlab.preprocessing"] = PREPROCESSING
    return graph.model(inputs, outputs, doc, metadata)
