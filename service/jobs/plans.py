"""What a job will train, checked before it is queued: the model it continues, its corpus, its
memory estimate.

Called inside the write transaction that queues the job: the corpus it names is locked until
the job is stored, so a corpus deleted meanwhile answers 404 here, or its deletion 409, never a
foreign-key error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from rnnlab.models.tasks import TASKS, Task
from rnnlab.models.tasks import Corpus as TaskCorpus
from rnnlab.models.tasks.memory import mib
from rnnlab.service.errors import CorpusTooSmall, NoCorpus, OverMemoryBudget
from rnnlab.service.jobs import continuation
from rnnlab.service.schemas.hyperparams import INIT_FROM_MODEL
from rnnlab.service.store.corpora import demo_corpus_id, lock_corpus
from rnnlab.service.store.tables import Corpus


@dataclass(frozen=True)
class Plan:
    """The values of the job's row that the checks fixed."""

    hyperparams: dict[str, Any]  # as stored: the corpus and the model continued, as ids
    corpus_id: int | None
    parent_model_id: int | None = None
    optimizer_state: str | None = None  # continuation.FRESH or FROM_CHECKPOINT

    def row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def plan_job(session: Session, task_name: str, hyperparams: Any, budget: int) -> Plan:
    """The job's plan; 404/422 when the job cannot run."""
    task = TASKS[task_name]
    ref = getattr(hyperparams, INIT_FROM_MODEL, None)
    parent = None if ref is None else continuation.parent_model(session, task, ref)
    if parent is not None:
        hyperparams = continuation.inherit(hyperparams, parent)
    stored = hyperparams.model_dump()
    stored.pop(INIT_FROM_MODEL, None)
    config = hyperparams.to_config()
    corpus = usable_corpus(session, task, config, stored) if task.needs_corpus else None
    corpus_id = None
    if corpus is not None:
        corpus_id = stored["corpus_id"] = corpus.id
    check_memory(task, config, corpus, budget)
    if parent is None:
        return Plan(stored, corpus_id)
    continuation.check_shapes(task, parent, config)
    if corpus is not None:
        continuation.check_corpus(session, parent, corpus)
    stored[INIT_FROM_MODEL] = parent.id
    state = continuation.optimizer_state(session, task, parent, config)
    return Plan(stored, corpus_id, parent.id, state)


def usable_corpus(session: Session, task: Task, config: Any, hyperparams: dict) -> Corpus:
    """The job's corpus (default: the demo corpus), long enough for its windows, and kept from
    deletion until the job is stored."""
    corpus_id = hyperparams.get("corpus_id") or demo_corpus_id(session)
    if corpus_id is None:
        raise NoCorpus("no corpus is registered: upload one with POST /corpora")
    corpus = lock_corpus(session, corpus_id)
    needed = task.min_tokens(config) if task.min_tokens is not None else 0
    if corpus.tokens < needed:
        raise CorpusTooSmall(
            f"corpus {corpus_id} has {corpus.tokens} tokens; these hyperparameters need at "
            f"least {needed}: lower batch_size or seq_len, or upload a longer text"
        )
    return corpus


def check_memory(task: Task, config: Any, corpus: Corpus | None, budget: int) -> None:
    """OverMemoryBudget when the task's estimate of this job is over `budget`."""
    sizes = TaskCorpus(None, corpus.tokens, corpus.vocabulary_size) if corpus else None
    needed = task.memory_bytes(config, sizes)
    if needed > budget:
        raise OverMemoryBudget(
            f"this job would need about {mib(needed)} (estimated from its hyperparameters), "
            f"over the budget of {mib(budget)} (RNNLAB_JOB_MEMORY_BUDGET): lower batch_size, "
            "hidden_size or embedding_size, or raise the corpus' unknown_threshold"
        )
