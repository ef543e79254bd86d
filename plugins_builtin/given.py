"""``data: given``: the graph a host application hands to ``Engine().run(config, data=...)``.

There is nothing to load from a config: the kernel takes the object the host
passed (a PyG ``Data`` for node and link tasks, a list or PyG dataset of
graphs for graph classification) and checks it like any loader's output. A
run made so records ``data: {name: given}``; resuming it, or predicting on its
own data, needs the same object again (``Engine().resume(path, data=...)``,
``load_run(path).predict(data)``).
"""

from __future__ import annotations

from typing import Any

from autoglm.plugins import DataError, hookimpl


class GivenData:
    def describe(self) -> dict[str, Any]:
        return {"name": "data given from Python"}

    def load(self) -> Any:
        raise DataError(
            "data 'given' is the graph a host passes to Engine().run(config, data=...) or Engine().resume(path, "
            "data=...); a config alone has nothing to load (name a loader such as csv or planetoid instead)"
        )


@hookimpl
def autoglm_register_data_loaders(register: Any) -> None:
    register("given", GivenData, summary="The graph a host passes to Engine.run(config, data=...) (not for YAML configs)")
