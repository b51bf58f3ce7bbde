"""The engine: speed paths beside the textbook layers of models/layers, never inside them.

Each module computes what a reference layer computes, faster, and a test in tests/models/fast
holds it to that reference (to float rounding):

    rnn.py, lstm.py, gru.py   time-major recurrent layers: one input product for the whole
                              window, gates activated in place; built by the textbook cell's
                              constructor (same parameters, names and draw order)
    sigmoid.py                the sigmoid through tanh the LSTM and GRU gates use, and the
                              LSTM's one tanh pass over all four gates
    serving_lstm.py           the LSTM frozen for serving: scaled weights kept, the input
                              projection of the embedding looked up, rows stopped at their length
    softmax.py                the output affine fused with softmax cross-entropy, in row shards
    prefix_tree.py            every binary-addition pair at once, along the tree of bit prefixes
    length_groups.py          contexts grouped by length for batched serving passes
    ranking.py                the k largest of a distribution
"""
