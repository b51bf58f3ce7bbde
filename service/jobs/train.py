"""How a job trains: its task from the registry in models/tasks (which knows nothing of the
service), its config from the stored hyperparameters, its corpus from the database, and, for a
job that continues a model, that model's weights."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numpy.typing import NDArray

from rnnlab.models.tasks import TASKS, Corpus
from rnnlab.models.training import TrainingHooks, TrainResult
from rnnlab.service.jobs.continuation import load_start
from rnnlab.service.store.corpora import load_dictionary, load_token_ids
from rnnlab.service.store.db import Database


def train(
    db: Database,
    task: str,
    hyperparams: dict[str, Any],
    hooks: TrainingHooks,
    resume: dict[str, NDArray] | None,
    wait: Callable[[Callable[[], Any]], Any] = lambda read: read(),
    origin: tuple[int | None, str] | None = None,
) -> TrainResult:
    """Train `task`; `wait` runs each read of the database until storage answers
    (storage_retry). `origin` (the parent model's id, the optimizer state's source) for a job
    that continues a model: a resumed job needs neither, its checkpoint holds everything."""
    spec = TASKS[task]
    config = spec.make_config(hyperparams)
    corpus = None
    if spec.needs_corpus:
        corpus = wait(lambda: _corpus(db, hyperparams["corpus_id"]))
    if resume is not None or origin is None:
        return spec.train(config, corpus, hooks, resume)
    start = wait(lambda: load_start(db, *origin))
    return spec.train(config, corpus, hooks, resume, start=start)


def _corpus(db: Database, corpus_id: int) -> Corpus:
    with db.read() as session:
        token_ids, vocabulary_size = load_token_ids(session, corpus_id)
        words = load_dictionary(session, corpus_id).words  # generated text
    return Corpus(token_ids, len(token_ids), vocabulary_size, words)
