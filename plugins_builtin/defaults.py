"""Which built-in component a config gets when it leaves a section out.

Marked ``trylast`` so an installed plugin can propose another default.
"""

from __future__ import annotations

from autoglm.plugins import hookimpl

DEFAULTS = {"task": "node_classification", "tuner": "nevergrad", "trainer": "cuda", "reporter": "console"}


@hookimpl(trylast=True)
def autoglm_default_component(kind: str) -> str | None:
    return DEFAULTS.get(kind)
