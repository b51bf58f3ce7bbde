"""Next-word LSTM on tinyshakespeare: numpy (models/) versus torch.nn.LSTM, a JSON line per figure.

Run (OpenBLAS tuning variables set on some machines slow numpy ~1.8x):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/next_word.py [--epochs 1]

Both runs use the same pre-processing, dictionary, train/test split, parallel streams, windows,
carried state (truncated BPTT), Adam 0.005 and clipping at norm 5. torch is optional.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.next_word import BpttBatches, NextWordConfig, split_tokens, train
from models.text import build_dictionary, preprocess
from models.training import TrainingHooks

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared/corpora/tinyshakespeare.txt"


def emit(**figures: object) -> None:
    print(json.dumps(figures), flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class EpochPrinter(TrainingHooks):
    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []

    def report(self, step, metrics, progress):
        if "test_perplexity" in metrics:
            self.epochs.append(dict(metrics))
            emit(
                impl="numpy",
                epoch=len(self.epochs),
                step=step,
                tokens_per_second=round(metrics["tokens_per_second"]),
                test_perplexity=round(metrics["test_perplexity"], 2),
                test_accuracy=round(metrics["test_accuracy"], 4),
                train_loss=round(metrics["train_loss"], 4),
            )


def run_torch(config: NextWordConfig, ids: np.ndarray, vocab: int) -> list[dict[str, float]]:
    import torch

    torch.manual_seed(config.seed)
    n_train = split_tokens(config, len(ids))
    train_ids, test_ids = ids[:n_train].astype(np.int64), ids[n_train:].astype(np.int64)

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(vocab, config.embedding_size)
            self.lstm = torch.nn.LSTM(config.embedding_size, config.hidden_size, batch_first=True)
            self.out = torch.nn.Linear(config.hidden_size, vocab)

        def forward(self, x, state):
            hs, state = self.lstm(self.embed(x), state)
            return self.out(hs), state

    model = Model()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    loss_fn = torch.nn.CrossEntropyLoss()
    batches = BpttBatches(train_ids, config.batch_size, config.seq_len)
    streams = max(1, min(config.batch_size, (len(test_ids) - 1) // config.seq_len))
    test_batches = BpttBatches(test_ids, streams, config.seq_len)
    results = []
    for epoch in range(config.epochs):
        model.train()
        state, tokens, start = None, 0, time.perf_counter()
        for k in range(batches.count):
            x, y = (torch.from_numpy(np.ascontiguousarray(a)) for a in batches.get(k))
            logits, state = model(x, state)
            state = tuple(s.detach() for s in state)
            loss = loss_fn(logits.reshape(-1, vocab), y.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            optimizer.step()
            tokens += x.numel()
        elapsed = time.perf_counter() - start
        model.eval()
        loss_sum, hits, count, state = 0.0, 0, 0, None
        with torch.no_grad():
            for k in range(test_batches.count):
                x, y = (torch.from_numpy(np.ascontiguousarray(a)) for a in test_batches.get(k))
                logits, state = model(x, state)
                flat = logits.reshape(-1, vocab)
                loss_sum += float(
                    torch.nn.functional.cross_entropy(flat, y.reshape(-1), reduction="sum")
                )
                hits += int((flat.argmax(1) == y.reshape(-1)).sum())
                count += y.numel()
        figures = {
            "tokens_per_second": tokens / elapsed,
            "test_perplexity": math.exp(loss_sum / count),
            "test_accuracy": hits / count,
        }
        results.append(figures)
        emit(
            impl="torch",
            epoch=epoch + 1,
            tokens_per_second=round(figures["tokens_per_second"]),
            test_perplexity=round(figures["test_perplexity"], 2),
            test_accuracy=round(figures["test_accuracy"], 4),
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn"])
    parser.add_argument("--no-torch", action="store_true", help="skip the torch reference")
    args = parser.parse_args()

    start = time.perf_counter()
    words = preprocess(args.corpus.read_text(encoding="utf-8"))
    dictionary = build_dictionary(words)
    ids = dictionary.encode(words)
    emit(
        corpus=str(args.corpus),
        tokens=len(ids),
        vocabulary_size=dictionary.size,
        preprocess_seconds=round(time.perf_counter() - start, 3),
    )

    config = NextWordConfig(
        cell=args.cell,
        embedding_size=100,
        hidden_size=128,
        seq_len=20,
        batch_size=64,
        optimizer="adam",
        learning_rate=0.005,
        clip_norm=5.0,
        epochs=args.epochs,
        log_every=10**9,
    )
    hooks = EpochPrinter()
    train(config, ids, dictionary.size, hooks)
    emit(impl="numpy", peak_rss_mb=round(peak_rss_mb(), 1))

    if args.no_torch:
        emit(torch="skipped: --no-torch")
        return
    try:
        import torch
    except ImportError:
        emit(torch="skipped: not installed")
        return
    emit(torch_version=torch.__version__, torch_threads=torch.get_num_threads())
    reference = run_torch(config, ids, dictionary.size)
    ours = hooks.epochs
    for epoch, (a, b) in enumerate(zip(ours, reference, strict=True), start=1):
        emit(
            epoch=epoch,
            tokens_per_second={
                "numpy": round(a["tokens_per_second"]),
                "torch": round(b["tokens_per_second"]),
                "ratio": round(a["tokens_per_second"] / b["tokens_per_second"], 2),
            },
            test_perplexity={
                "numpy": round(a["test_perplexity"], 1),
                "torch": round(b["test_perplexity"], 1),
            },
            test_accuracy={
                "numpy": round(a["test_accuracy"], 4),
                "torch": round(b["test_accuracy"], 4),
            },
        )
    emit(impl="numpy+torch", peak_rss_mb=round(peak_rss_mb(), 1))


if __name__ == "__main__":
    main()
