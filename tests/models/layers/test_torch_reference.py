"""The recurrent layers, reference and fast, against torch.nn.RNN / LSTM / GRU with copied
weights (float64). Skipped with the reason shown when torch is not installed (CI installs it)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="torch is the optional reference: pip install torch==2.13.0 (CPU) to run these"
)

from rnnlab.models.fast.gru import FastGRU  # noqa: E402
from rnnlab.models.fast.lstm import FastLSTM  # noqa: E402
from rnnlab.models.fast.rnn import FastRNN  # noqa: E402
from rnnlab.models.layers.gru import TimeGRU  # noqa: E402
from rnnlab.models.layers.lstm import TimeLSTM  # noqa: E402
from rnnlab.models.layers.rnn import TimeRNN  # noqa: E402

pytestmark = pytest.mark.torch

N, T, D, H = 3, 6, 4, 5


def run_torch(module, xs, R, state=None):
    """Outputs, input gradient and parameter gradients of sum(module(xs) * R)."""
    x = torch.tensor(xs, requires_grad=True)
    out, _ = module(x, state)
    (out * torch.tensor(R)).sum().backward()
    grads = {name: p.grad.numpy() for name, p in module.named_parameters()}
    return out.detach().numpy(), x.grad.numpy(), grads


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((N, T, D)), rng.standard_normal((N, T, H))


@pytest.mark.parametrize("cls", [TimeLSTM, FastLSTM])
def test_lstm_matches_torch(data, cls):
    xs, R = data
    torch.manual_seed(0)
    ref = torch.nn.LSTM(D, H, batch_first=True).double()
    layer = cls(D, H, np.random.default_rng(0), dtype=np.float64)
    Wx, Wh, b = layer.params
    Wx[...] = ref.weight_ih_l0.detach().numpy().T
    Wh[...] = ref.weight_hh_l0.detach().numpy().T
    b[...] = (ref.bias_ih_l0 + ref.bias_hh_l0).detach().numpy()

    out, dx, grads = run_torch(ref, xs, R)
    hs = layer.forward(xs)
    dxs = layer.backward(R)
    np.testing.assert_allclose(hs, out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dxs, dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads[0], grads["weight_ih_l0"].T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads[1], grads["weight_hh_l0"].T, rtol=1e-10, atol=1e-12)
    # torch's two biases receive the same gradient; ours is their sum's
    np.testing.assert_allclose(layer.grads[2], grads["bias_ih_l0"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads[2], grads["bias_hh_l0"], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", [TimeLSTM, FastLSTM])
def test_lstm_carried_state_matches_torch_initial_state(data, cls):
    xs, R = data
    torch.manual_seed(1)
    ref = torch.nn.LSTM(D, H, batch_first=True).double()
    layer = cls(D, H, np.random.default_rng(0), dtype=np.float64)
    layer.params[0][...] = ref.weight_ih_l0.detach().numpy().T
    layer.params[1][...] = ref.weight_hh_l0.detach().numpy().T
    layer.params[2][...] = (ref.bias_ih_l0 + ref.bias_hh_l0).detach().numpy()
    rng = np.random.default_rng(1)
    h0, c0 = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    out, dx, grads = run_torch(ref, xs, R, (torch.tensor(h0[None]), torch.tensor(c0[None])))
    layer.stateful = True
    layer.set_state({"h": h0, "c": c0})
    np.testing.assert_allclose(layer.forward(xs), out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.backward(R), dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads[1], grads["weight_hh_l0"].T, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", [TimeGRU, FastGRU])
def test_gru_matches_torch(data, cls):
    xs, R = data
    torch.manual_seed(2)
    ref = torch.nn.GRU(D, H, batch_first=True).double()
    layer = cls(D, H, np.random.default_rng(0), dtype=np.float64)
    Wx, Wh, b, bh = layer.params
    b_ih = ref.bias_ih_l0.detach().numpy()
    b_hh = ref.bias_hh_l0.detach().numpy()
    Wx[...] = ref.weight_ih_l0.detach().numpy().T
    Wh[...] = ref.weight_hh_l0.detach().numpy().T
    b[...] = b_ih + np.concatenate([b_hh[: 2 * H], np.zeros(H)])
    bh[...] = b_hh[2 * H :]

    out, dx, grads = run_torch(ref, xs, R)
    hs = layer.forward(xs)
    dxs = layer.backward(R)
    np.testing.assert_allclose(hs, out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dxs, dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads[0], grads["weight_ih_l0"].T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads[1], grads["weight_hh_l0"].T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads[2], grads["bias_ih_l0"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads[3], grads["bias_hh_l0"][2 * H :], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        layer.grads[2][: 2 * H], grads["bias_hh_l0"][: 2 * H], rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("cls", [TimeRNN, FastRNN])
def test_rnn_matches_torch(data, cls):
    xs, R = data
    torch.manual_seed(3)
    ref = torch.nn.RNN(D, H, batch_first=True).double()  # tanh
    layer = cls(D, H, np.random.default_rng(0), dtype=np.float64)
    Wx, Wh, b = layer.params
    Wx[...] = ref.weight_ih_l0.detach().numpy().T
    Wh[...] = ref.weight_hh_l0.detach().numpy().T
    b[...] = (ref.bias_ih_l0 + ref.bias_hh_l0).detach().numpy()

    out, dx, grads = run_torch(ref, xs, R)
    np.testing.assert_allclose(layer.forward(xs), out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.backward(R), dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads[0], grads["weight_ih_l0"].T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads[1], grads["weight_hh_l0"].T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads[2], grads["bias_ih_l0"], rtol=1e-10, atol=1e-12)
