"""Does a run hold up on a busy machine? The quickstart, quiet and next to a busy process.

Runs ``autoglm run examples/quickstart.yaml`` (a fresh process each time, as a
user would) in each setting below, first on a quiet machine and then with one
other process spinning on a core (``while True: pass``, unpinned unless
``--pin``), and prints the wall times and the busy/quiet ratio:

- ``threads: auto`` (the default: one torch thread per trial process),
- ``threads: 2`` (what runs used before: torch's default on 2 cores),
- ``workers: 2`` (two forked trial processes, one thread each).

The target for the default is at most 2.5x its quiet time with one busy
process on a 2-core machine. GNU OpenMP's threads spin at every barrier, so a
setting that puts two threads on two cores loses badly once one core is taken.
Run it alone: other load spoils the "quiet" column.

    python bench/contention.py                   # each setting once, quiet and busy
    python bench/contention.py --repeat 3        # medians of three
    python bench/contention.py --cora ../shared/data/planetoid   # Cora instead (a bigger graph)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SETTINGS = {
    "threads auto": [],
    "threads 2": ["--set", "threads=2"],
    "workers 2": ["--set", "workers=2"],
}
BUSY_LOOP = "import os, sys\nif len(sys.argv) > 1: os.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True: pass\n"


def run_once(config: Path, extra: list[str], out: Path) -> float:
    command = [sys.executable, "-m", "autoglm.cli.main", "-q", "run", str(config), "--output", str(out), "--overwrite", *extra]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return elapsed


def measure(config: Path, repeat: int, busy: bool, pin: int | None, scratch: Path) -> dict[str, float]:
    spinner = None
    if busy:
        args = [sys.executable, "-c", BUSY_LOOP] + ([str(pin)] if pin is not None else [])
        spinner = subprocess.Popen(args)
        time.sleep(1.0)
    try:
        return {
            name: statistics.median(run_once(config, extra, scratch / name.replace(" ", "-")) for _ in range(repeat))
            for name, extra in SETTINGS.items()
        }
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=REPO / "examples" / "quickstart.yaml")
    parser.add_argument("--cora", type=Path, default=None, help="folder holding Cora/raw/: run examples/cora.yaml there")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--pin", type=int, default=None, help="pin the busy process to this core")
    args = parser.parse_args()
    config, extra = args.config, []
    if args.cora is not None:
        config = REPO / "examples" / "cora.yaml"
        for name in SETTINGS:
            SETTINGS[name] = SETTINGS[name] + ["--set", f"data.options.root={args.cora.resolve()}"]
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        quiet = measure(config, args.repeat, False, args.pin, scratch)
        busy = measure(config, args.repeat, True, args.pin, scratch)
    print(f"{config.name}, {cores} cores, median of {args.repeat}; busy = one spinning process"
          + (f" pinned to core {args.pin}" if args.pin is not None else ""))
    print(f"{'setting':<14} {'quiet s':>8} {'busy s':>8} {'busy/quiet':>10} {'vs auto quiet':>14}")
    for name in SETTINGS:
        print(f"{name:<14} {quiet[name]:8.1f} {busy[name]:8.1f} {busy[name] / quiet[name]:10.2f}x "
              f"{busy[name] / quiet['threads auto']:13.2f}x")
    ratio = busy["threads auto"] / quiet["threads auto"]
    print(f"default (threads auto): busy/quiet {ratio:.2f}x, target <= 2.5x: {'met' if ratio <= 2.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
