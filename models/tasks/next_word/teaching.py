"""What a next-word run shows as it learns: the gradient's norm at each time step (every
gradient_norms_every steps) and, at each epoch end (teaching_views), a short text generated
from a fixed prompt, so the text visibly improves.

Records (TrainingHooks.record):
    gradient_norms  {"norms": [||dL_T/dh_t|| for t = 0..T-1], "loss_step": T-1}: the loss of
                     the window's last word travelling back through the top recurrent layer
    generated       {"epoch", "prompt", "text"}: the prompt is the first PROMPT_WORDS words of
                     the test split; the continuation is drawn with its own fixed generator
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from rnnlab.models.tasks.next_word.config import NextWordConfig
from rnnlab.models.tasks.next_word.model import NextWordModel
from rnnlab.models.tasks.next_word.predict import NextWordPredictor
from rnnlab.models.training import TrainingHooks

PROMPT_WORDS = 5
GENERATED_WORDS = 12
TEMPERATURE = 0.7
UNKNOWN_ID = 0  # never generated: "<unk>" teaches nothing


class Teacher:
    """The records a run's hooks want, computed only when wanted."""

    def __init__(
        self,
        config: NextWordConfig,
        hooks: TrainingHooks,
        prompt: NDArray,
        words: Sequence[str] | None,
    ) -> None:
        on = config.teaching_views
        self.hooks = hooks
        self.config = config
        self.trace_every = config.gradient_norms_every if hooks.wants("gradient_norms") else None
        self.generates = on and hooks.wants("generated") and len(prompt) > 0
        self.prompt = [int(i) for i in prompt[:PROMPT_WORDS]]
        self.words = words

    def traces_at(self, step: int) -> bool:
        """Whether the training step `step` (counted from 1) traces the gradient in time."""
        return self.trace_every is not None and step % self.trace_every == 0

    def record_trace(self, model: NextWordModel, step: int) -> None:
        norms = model.gradient_norms
        assert norms is not None
        payload = {"norms": norms.tolist(), "loss_step": len(norms) - 1}
        self.hooks.record(step, "gradient_norms", payload)

    def generate(self, model: NextWordModel, step: int, epoch: int) -> None:
        """Continue the prompt; the model's carried state is reset after (the next epoch starts
        from a reset state anyway), its weights and the run's generator are untouched."""
        if not self.generates:
            return
        rng = np.random.default_rng(self.config.seed)  # the same draws each epoch
        ids = NextWordPredictor(model).generate(
            self.prompt, GENERATED_WORDS, TEMPERATURE, rng=rng, banned=[UNKNOWN_ID]
        )
        model.reset_state()
        payload = {"epoch": epoch, "prompt": self.text(self.prompt), "text": self.text(ids)}
        self.hooks.record(step, "generated", payload)

    def text(self, ids: Sequence[int]) -> str:
        if self.words is None:
            return " ".join(f"#{i}" for i in ids)
        return " ".join(self.words[i] for i in ids)
