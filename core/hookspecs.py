"""Hook specifications: the contract between the autoglm kernel and its plugins.

A plugin is any module or object with functions marked by
:data:`autoglm.plugins.hookimpl` whose names match the specs below. The kernel
calls each registration hook once per engine, with a ``register`` callable
bound to the calling plugin, so every component knows which plugin (and which
distribution) owns it.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("autoglm")


@hookspec
def autoglm_register_tasks(register: Any) -> None:
    """Register tasks: what is learned from the data (node classification, link prediction, ...).

    Call ``register(name, factory, search_space=..., summary=...)`` once per task.
    ``factory(**options)`` receives the options of the config's ``task`` section
    and returns a :class:`autoglm.plugins.Task`: it checks and splits the data,
    builds a trial's model from the model plugin's encoder and its own head,
    computes the training loss and the metrics, names its objective (metric and
    direction) and writes the rows of ``predictions.csv``. ``search_space``
    lists the task's own tunables (its head: a link decoder, a readout), which
    configs override under ``search.task_space``.

    :param register: Registers one task for this plugin.
    """


@hookspec
def autoglm_register_data_loaders(register: Any) -> None:
    """Register data loaders: components that produce the graph to learn on.

    Call ``register(name, factory, summary=...)`` once per loader. ``factory(**options)``
    receives the options of the config's ``data`` section and returns an object
    with a ``load()`` method and, optionally, a cheap ``check()`` run before any
    data is loaded (see :class:`autoglm.plugins.DataLoader`).

    :param register: Registers one data loader for this plugin. Raises
        :class:`~autoglm.core.errors.RegistryError` on a duplicate or invalid name.
    """


@hookspec
def autoglm_register_models(register: Any) -> None:
    """Register model architectures the search can choose from.

    Call ``register(name, factory, search_space=..., tasks=..., summary=...)`` once per model.
    ``factory(in_channels, out_channels, **params)`` returns a ``torch.nn.Module``
    mapping ``(x, edge_index)`` to ``out_channels`` numbers per node: an encoder.
    The task chooses the channels and adds its head (for node classification
    ``out_channels`` is the number of classes and there is no head).
    ``search_space`` maps each tunable parameter of the factory to a range, a
    choice or a constant (``Int``, ``Float``, ``Choice`` from
    :mod:`autoglm.plugins`); configs may override it, but only for the names it
    lists. ``tasks`` names the tasks the model serves (default: all of them).

    :param register: Registers one model for this plugin.
    """


@hookspec
def autoglm_register_tuners(register: Any) -> None:
    """Register search strategies.

    Call ``register(name, factory, summary=...)``. ``factory(**options)`` returns
    a :class:`autoglm.plugins.Tuner` that proposes candidates with ``ask()`` and
    learns from their validation scores with ``tell()``.

    :param register: Registers one tuner for this plugin.
    """


@hookspec
def autoglm_register_trainers(register: Any) -> None:
    """Register trainers: components that fit one model and score it.

    Call ``register(name, factory, search_space=..., summary=...)``.
    ``factory(**options)`` returns a :class:`autoglm.plugins.Trainer`. The
    optional ``search_space`` lists the training hyperparameters the tuner may
    set (learning rate, weight decay, ...), passed to ``Trainer.fit``.

    :param register: Registers one trainer for this plugin.
    """


@hookspec
def autoglm_register_reporters(register: Any) -> None:
    """Register reporters: components that receive run and trial events.

    Call ``register(name, factory, summary=...)``. ``factory(**options)`` returns
    a :class:`autoglm.plugins.Reporter`; every event method is optional.

    :param register: Registers one reporter for this plugin.
    """


@hookspec
def autoglm_register_executors(register: Any) -> None:
    """Register executors: where a run's trials train (this process, forked processes, a cluster).

    Call ``register(name, factory, summary=...)``. ``factory(**options)`` returns
    a :class:`autoglm.plugins.Executor`. A config picks one with ``executor:``;
    without it a run uses ``inline`` for ``workers: 1`` and ``fork`` above.

    :param register: Registers one executor for this plugin.
    """


@hookspec(firstresult=True)
def autoglm_default_component(kind: str) -> str | None:
    """Name the component to use when a config leaves a section out.

    Stops at first non-None result. Third-party plugins are called before the
    built-ins, so a plugin can change a default; the config always wins.

    :param kind: One of ``"task"``, ``"tuner"``, ``"trainer"`` or ``"reporter"``.
    :return: A registered component name, or None to leave the choice to others.
    """
