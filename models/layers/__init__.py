"""The textbook: reference layers in the notes' notation, the truth every fast path is held to.

The study notes write one sample as a column vector:

    u_t = W_in x_t + W z_{t-1} + b        pre-activation of the hidden layer
    z_t = f(u_t)                          hidden state
    y_t = g(W_out z_t + c)                output

The code writes a batch of N samples as the rows of a matrix, so every product is transposed:

    notes                   code                         shape
    x_t (column)            xs[:, t]  (one row each)     (N, D)
    z_t                     h, hs[:, t]                  (N, H)
    W_in                    Wx.T                         Wx: (D, H)
    W                       Wh.T                         Wh: (H, H)
    b                       b                            (H,)
    u_t                     x_t @ Wx + h_{t-1} @ Wh + b  (N, H)
    W_out, c                the output layer's W.T, b    W: (H, O), b: (O,)

Why rows: a batch is a stack of samples, and x @ Wx then multiplies all of them in one matrix
product; each sample's numbers lie side by side in memory (C order), and torch stores the same
layout (``weight_ih_l0`` is Wx.T). The gated cells keep their gates side by side in one matrix
(LSTM: (D, 4H), gates i, f, g, o; GRU: (D, 3H), gates r, z, n), one product per step.

Every layer follows one contract (deep-learning-from-scratch-2's): ``params`` and ``grads`` are
lists in the same order, named by ``param_names`` (the keys of saved weights); ``forward``
keeps what ``backward`` needs; ``backward(dout)`` returns the gradient of its input and leaves
the parameter gradients in the arrays of ``grads`` themselves, never new ones, so an optimiser
that holds those arrays always sees the current ones. A layer over a window overwrites them
(``grads[0][...] = dW``); a one-step cell adds its step's share (``grads[0] += dW``) into
arrays the loop over time (time.py) zeroed first. Inputs are batch-first: (N, T, D).

A recurrent cell and its fast version in models/fast are built by one constructor, the
cell's parameter set (``RNNParameters``, ``LSTMParameters``, ``GRUParameters``): one seed, one
draw order, the same names.

Files: activations (sigmoid, tanh, relu), rnn / lstm / gru (one-step cells), time (the loop over
a window, truncated BPTT), affine, embedding, dropout (inverted dropout, and Keras's masks per
sequence that every recurrent layer takes), losses (sigmoid and softmax losses) and output (the
affine + softmax cross-entropy of a word model).
"""
