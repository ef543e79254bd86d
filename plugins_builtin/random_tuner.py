"""Random search: the baseline every other tuner has to beat."""

from __future__ import annotations

import random
from typing import Annotated, Any

from autoglm.plugins import Between, Candidate, SearchSpace, hookimpl, sample_space

#: Trials in one search.
Budget = Annotated[int, Between(1, 1_000_000)]


class RandomTuner:
    def __init__(self, *, budget: Budget = 20, seed: int | None = None) -> None:
        if budget < 1:
            raise ValueError(f"budget must be at least 1, got {budget}")
        self.budget = budget
        self.seed = seed
        self._asked = 0

    def setup(self, space: SearchSpace, *, seed: int) -> None:
        self._space = space
        self._models = sorted(space.models)
        self._rng = random.Random(seed if self.seed is None else self.seed)

    def ask(self) -> Candidate | None:
        if self._asked >= self.budget:
            return None
        self._asked += 1
        model = self._rng.choice(self._models)
        return Candidate(
            model=model,
            model_params=sample_space(self._space.models[model], self._rng),
            train_params=sample_space(self._space.training, self._rng),
            task_params=sample_space(self._space.task, self._rng),
        )

    def tell(self, candidate: Candidate, score: float | None) -> None:
        """Random search ignores feedback."""


@hookimpl
def autoglm_register_tuners(register: Any) -> None:
    register("random", RandomTuner, summary="Uniform (or log-uniform) random search over the space")
