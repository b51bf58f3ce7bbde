"""What a job will train, checked before it is queued: its corpus, its memory estimate."""

from __future__ import annotations

from typing import Any

from models.next_word import min_tokens
from service.corpora import demo_corpus_id, get_corpus
from service.db import Database
from service.errors import InvalidInput, NotFound
from service.memory import binary_addition_bytes, mib, next_word_bytes
from service.schemas import BinaryAdditionHyperparams, NextWordHyperparams
from service.settings import Settings
from service.tables import Corpus


def plan_job(
    db: Database, settings: Settings, hyperparams: BinaryAdditionHyperparams | NextWordHyperparams
) -> tuple[dict[str, Any], int | None]:
    """(hyperparameters to store, corpus id); 404/422 when the job cannot run."""
    stored = hyperparams.model_dump()
    config = hyperparams.to_config()
    corpus_id = None
    if isinstance(hyperparams, NextWordHyperparams):
        corpus = check_corpus(db, hyperparams)
        corpus_id = stored["corpus_id"] = corpus.id
        needed = next_word_bytes(config, corpus.tokens, corpus.vocabulary_size)
    else:
        needed = binary_addition_bytes(config)
    if needed > settings.job_memory_budget:
        raise InvalidInput(
            f"this job would need about {mib(needed)} (estimated from its hyperparameters), over "
            f"the budget of {mib(settings.job_memory_budget)} (RNNLAB_JOB_MEMORY_BUDGET): lower "
            "batch_size, hidden_size or embedding_size, or raise the corpus' unknown_threshold"
        )
    return stored, corpus_id


def check_corpus(db: Database, hyperparams: NextWordHyperparams) -> Corpus:
    """The job's corpus (default: the demo corpus), long enough for its windows."""
    with db.read() as session:
        corpus_id = hyperparams.corpus_id or demo_corpus_id(session)
        if corpus_id is None:
            raise NotFound("no corpus is registered: upload one with POST /corpora")
        corpus = get_corpus(session, corpus_id)
        needed = min_tokens(hyperparams.to_config())
        if corpus.tokens < needed:
            raise InvalidInput(
                f"corpus {corpus_id} has {corpus.tokens} tokens; these hyperparameters need at "
                f"least {needed}: lower batch_size or seq_len, or upload a longer text"
            )
        return corpus
