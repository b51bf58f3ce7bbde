"""A model loaded for serving: its task's answerer and what the service keeps beside it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from rnnlab.models.tasks.serving import Answerer
from rnnlab.service.serving.answers import AnswerCache
from rnnlab.service.serving.batching import Batcher


@dataclass(frozen=True)
class LoadedModel:
    model_id: int
    task: str
    answerer: Answerer  # what the task's serving built from the model's predictor
    answers: AnswerCache | None = field(default=None, compare=False, repr=False)
    # A stateful answerer carries its recurrent state between calls: one call at a time.
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)
    batcher: Batcher | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, model_id: int, task: str, answerer: Answerer, answers: AnswerCache) -> LoadedModel:
        """The loaded model, with a batcher when its answerer answers several queries at once."""
        lock = threading.Lock()
        batcher = Batcher(answerer.answer_many, lock) if answerer.batched else None
        return cls(model_id, task, answerer, answers, lock, batcher)
