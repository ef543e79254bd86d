"""How many torch threads a trial gets, and why the default is one.

Measured on a 2-core machine (``bench/contention.py``, Cora, torch 2.13 CPU):
two intra-op threads make a GCN trial 1.3x faster than one on an idle
machine, but 4.5x slower when one other busy process shares the cores,
because GNU OpenMP's threads spin at every barrier waiting for the one that
lost its core. The quickstart's small graph is faster on one thread even on an
idle machine. One thread per trial process holds up under any load, and
``workers: N`` fills the cores with trials instead; so ``threads: auto`` means
one. ``threads: N`` asks for more (a big graph on a machine of your own), and
the choice is logged with the cores this process may use: its CPU affinity and
its cgroup's CPU quota (a container limited to 2 CPUs sees all the host's
cores in ``os.cpu_count()``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

#: ``threads: auto``: one torch thread per trial process (see the module docstring).
AUTO_THREADS = 1


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs the cgroup's quota allows (cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``), or None when unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    except (OSError, ValueError):
        return None


def usable_cores() -> int:
    """Cores this process may run on: its affinity mask, capped by its cgroup's CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_limit()
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def resolve_threads(setting: int | str, workers: int) -> int:
    """The torch threads each trial process runs with, logged with the reason."""
    cores = usable_cores()
    threads = AUTO_THREADS if setting == "auto" else int(setting)
    why = "auto: one per trial process, fast under any load" if setting == "auto" else "set by threads"
    log.info(
        "torch threads: %d per trial process (%s); %d usable core(s), %d worker process(es)",
        threads, why, cores, workers,
    )
    busy = threads * workers
    if busy > cores:
        log.warning(
            "%d worker(s) x %d thread(s) ask for more than the %d usable core(s): trials will compete for them",
            workers, threads, cores,
        )
    return threads


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` intra-op threads, then give the host its setting back."""
    import torch

    saved = torch.get_num_threads()
    if count != saved:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if torch.get_num_threads() != saved:
            torch.set_num_threads(saved)
