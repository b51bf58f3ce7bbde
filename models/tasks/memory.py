"""What every task's memory estimate shares.

The estimates are deliberately simple upper bounds (float32 = 4 bytes): what matters is refusing
a job that would certainly not fit (a vocabulary-sized output layer with a huge batch, a
hidden_size of thousands) before it takes a worker down, not predicting RSS to the megabyte.
"""

FLOAT = 4
BASELINE = 96 * 2**20  # the interpreter, numpy and the service's libraries in a worker process
OPTIMIZER_COPIES = 4  # weights, gradients and Adam's two moments
GATES = {"rnn": 1, "gru": 3, "lstm": 4}  # weight matrices per recurrent layer


def mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB"
