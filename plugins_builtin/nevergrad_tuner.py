"""Nevergrad ask/tell search over a mixed, conditional space spanning several models.

The space is one ``ng.p.Dict``: a ``Choice`` of model, one sub-dict of
parameters per model (only the chosen model's is used: a conditional space
encoded flat), and the shared training parameters. Nevergrad minimises, so a
candidate's loss is minus its validation score; a failed trial gets a loss
worse than any score.

Traps in nevergrad 1.0.12 handled here: the optimizer is built with
``num_workers`` equal to the trials in flight (one, or the run's round size
given by :meth:`NevergradTuner.set_in_flight`) and never asked further ahead
(scipy-backed optimizers such as Cobyla block on a second ``ask`` before a
``tell``); the best trial is the one autoglm evaluated, never nevergrad's
``recommend()`` (CMA and TBPSA recommend unevaluated points); see
:func:`avoid_metamodel` for the NumPy >= 2.4 crash.
"""

from __future__ import annotations

import difflib
import logging
from typing import Annotated, Any, Iterator

from autoglm.plugins import Between, Candidate, Choice, Float, Int, SearchSpace, hookimpl, is_tunable

#: Trials in one search.
Budget = Annotated[int, Between(1, 1_000_000)]

log = logging.getLogger(__name__)

#: The loss of a failed trial when no trial has scored yet; later, one worse than any seen.
FAILED_LOSS = 1.0


def to_parameter(param: Any) -> Any:
    """One autoglm search parameter as a nevergrad parameter (constants stay constants)."""
    import nevergrad as ng

    if isinstance(param, Int):
        base = ng.p.Log(lower=param.low, upper=param.high) if param.log else ng.p.Scalar(lower=param.low, upper=param.high)
        return base.set_integer_casting()
    if isinstance(param, Float):
        return ng.p.Log(lower=param.low, upper=param.high) if param.log else ng.p.Scalar(lower=param.low, upper=param.high)
    if isinstance(param, Choice):
        return ng.p.Choice(list(param.options))
    return param


def _plain(value: Any) -> Any:
    """NumPy scalars from nevergrad as plain Python values (JSON- and YAML-friendly)."""
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, (list, dict, str)) else value


def _sub_dict(space: Any) -> Any:
    import nevergrad as ng

    tunable = {name: to_parameter(p) for name, p in space.items() if is_tunable(p)}
    return ng.p.Dict(**tunable)


#: The default optimizer, chosen by measurement: the shipped 20-trial Cora search (bench/search.py, search seeds
#: 0-2, mean test / best validation accuracy) with NGOpt (which picks DiscreteBSOOnePlusOne for this mixed space)
#: 0.8342 / 0.8240; DiscreteLenglerOnePlusOne 0.8344 / 0.8273; CMA 0.8333 / 0.8233; RandomSearch 0.8258 / 0.8193;
#: TwoPointsDE the same trials as RandomSearch (its first population is random and larger than 20);
#: PortfolioDiscreteOnePlusOne 0.8248 / 0.8233. NGOpt and Lengler tie within the spread; NGOpt stays.
DEFAULT_OPTIMIZER = "NGOpt"


class NevergradTuner:
    def __init__(self, *, optimizer: str = DEFAULT_OPTIMIZER, budget: Budget = 20, seed: int | None = None) -> None:
        import nevergrad as ng

        if budget < 1:
            raise ValueError(f"budget must be at least 1, got {budget}")
        registry = ng.optimizers.registry
        if optimizer not in registry:
            close = difflib.get_close_matches(optimizer, list(registry), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ValueError(
                f"unknown nevergrad optimizer {optimizer!r}{hint}; any name of "
                "nevergrad.optimizers.registry works, e.g. NGOpt, TwoPointsDE, CMA, OnePlusOne, RandomSearch"
            )
        self.optimizer_name = optimizer
        self.budget = budget
        self.seed = seed
        self._asked = 0
        self.in_flight = 1
        self._worst: list[float] = []  # the worst loss told so far (none yet: empty)
        self._fixed: Any = None  # the whole space when it has nothing to tune (set up by setup)

    def set_in_flight(self, count: int) -> None:
        """The runner asks ``count`` candidates before telling any: nevergrad's own parallel ask/tell."""
        self.in_flight = max(1, int(count))

    def setup(self, space: SearchSpace, *, seed: int) -> None:
        import nevergrad as ng
        import numpy as np

        self._space = space
        self._models = sorted(space.models)
        parts = dict(
            # A one-model search has no model choice (a lone Choice would make a float space look discrete).
            model=ng.p.Choice(self._models) if len(self._models) > 1 else self._models[0],
            models=ng.p.Dict(**{name: _sub_dict(space.models[name]) for name in self._models}),
            training=_sub_dict(space.training),
        )
        if any(is_tunable(p) for p in space.task.values()):  # the task's head (absent: the space is as before tasks)
            parts["task"] = _sub_dict(space.task)
        parametrization = ng.p.Dict(**parts)
        parametrization.random_state = np.random.RandomState((seed if self.seed is None else self.seed) % 2**32)
        self._fixed = parametrization if parametrization.dimension == 0 else None
        if self._fixed is not None:  # nevergrad refuses a space with nothing to optimise: it is one configuration
            self.active_optimizer = None
            log.info("nevergrad: the space has nothing to tune (one model, every parameter fixed): one trial")
            return
        # Never more asks ahead of tells than the optimizer was built for.
        self._optimizer = ng.optimizers.registry[self.optimizer_name](
            parametrization=parametrization, budget=self.budget, num_workers=self.in_flight
        )
        risky = metamodel_parts(self._optimizer) if metamodel_is_broken() else []
        if risky:
            log.warning(
                "nevergrad optimizer %s uses %s, which crashes under NumPy >= 2.4 in nevergrad %s; "
                "using %s instead",
                self.optimizer_name, ", ".join(sorted(set(risky))), ng.__version__, FALLBACK_OPTIMIZER,
            )
            self._optimizer = ng.optimizers.registry[FALLBACK_OPTIMIZER](
                parametrization=parametrization, budget=self.budget, num_workers=self.in_flight
            )
        self.active_optimizer = str(self._optimizer.name)
        log.info("nevergrad: %s over %d trials, %d in flight", self.active_optimizer, self.budget, self.in_flight)

    def ask(self) -> Candidate | None:
        if self._asked >= (1 if self._fixed is not None else self.budget):
            return None
        self._asked += 1
        handle = self._fixed if self._fixed is not None else self._optimizer.ask()
        value = handle.value
        model = value["model"]
        return Candidate(
            model=model,
            model_params=self._resolve(self._space.models[model], value["models"][model]),
            train_params=self._resolve(self._space.training, value["training"]),
            handle=handle,
            task_params=self._resolve(self._space.task, value.get("task", {})),
        )

    @staticmethod
    def _resolve(space: Any, chosen: dict[str, Any]) -> dict[str, Any]:
        return {name: _plain(chosen[name]) if is_tunable(p) else p for name, p in space.items()}

    def describe(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer_name,
            "active_optimizer": getattr(self, "active_optimizer", None),
            "in_flight": self.in_flight,
        }

    def tell(self, candidate: Candidate, score: float | None) -> None:
        """Nevergrad minimises: the loss is minus the score (higher is better, as the kernel tells it).

        A failed trial gets a loss worse than every one seen so far (at least
        ``FAILED_LOSS``, which is worse than any accuracy, AUC or other score in [0, 1]).
        """
        if score is None:
            loss = max([FAILED_LOSS, *(worst + abs(worst) + 1.0 for worst in self._worst)])
        else:
            loss = -float(score)
            self._worst = [max([loss, *self._worst])]
        if self._fixed is None:
            self._optimizer.tell(candidate.handle, loss)

    def close(self) -> None:
        """Stop the background threads of scipy-backed optimizers (Cobyla, SQP, ...).

        nevergrad runs them in a non-daemon thread that waits for the next
        ``tell``; a search that ends before the optimizer does (any budget
        smaller than the optimizer's own) would leave it waiting, and the
        process could not exit. nevergrad stops it only from ``__del__``.
        """
        optimizer = getattr(self, "_optimizer", None)
        if optimizer is None:
            return
        for part in iter_optimizers(optimizer):
            thread = vars(part).get("_messaging_thread")
            if thread is not None:
                thread.stop()
                inner = getattr(thread, "_thread", None)
                if inner is not None:
                    inner.join(timeout=5)


#: Used instead of an optimizer that would crash: robust on mixed spaces, no surrogate model.
FALLBACK_OPTIMIZER = "TwoPointsDE"


def iter_optimizers(optimizer: Any, _seen: set[int] | None = None) -> Iterator[Any]:
    """The optimizer and every optimizer nested in it (wizard choices, portfolios, chains)."""
    from nevergrad.optimization import base, optimizerlib

    seen = set() if _seen is None else _seen
    if id(optimizer) in seen:
        return
    seen.add(id(optimizer))
    yield optimizer
    if isinstance(optimizer, optimizerlib.NGOptBase):
        yield from iter_optimizers(optimizer.optim, seen)  # the wizard's (lazily built) choice
    for value in vars(optimizer).values():
        values = value if isinstance(value, (list, tuple)) else value.values() if isinstance(value, dict) else (value,)
        for item in values:
            if isinstance(item, base.Optimizer):
                yield from iter_optimizers(item, seen)


def metamodel_parts(optimizer: Any) -> list[str]:
    """Names of the parts that fit a surrogate model (MetaModel family, high-speed variants)."""
    from nevergrad.optimization import optimizerlib

    found = []
    for part in iter_optimizers(optimizer):
        if isinstance(part, optimizerlib._MetaModel) or getattr(getattr(part, "_config", None), "high_speed", False):
            found.append(str(part.name))
    return found


def metamodel_is_broken() -> bool:
    """nevergrad 1.0.12's MetaModel calls float() on a 1-element array, an error from NumPy 2.4 on."""
    import numpy as np

    return np.lib.NumpyVersion(np.__version__) >= "2.4.0"


@hookimpl
def autoglm_register_tuners(register: Any) -> None:
    register("nevergrad", NevergradTuner, summary="Nevergrad ask/tell (optimizer: NGOpt by default)")
