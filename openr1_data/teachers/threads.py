"""How many torch threads a local model uses: chosen from the cores that are actually free.

torch's default (every core) is right on an idle machine and badly wrong on a shared one: on a loaded 2-core
machine the quickstart took 731 s with torch's default and 121 s with one thread, for identical output, because
threads that wait for a busy core stall every matrix multiply. `--num_threads N` overrides the choice.

The choice is made once per process, at its first local model: the load average counts this process's own work
too, so asking again later (the teach experiment trains and evaluates one student after another) would read our
own busy core as someone else's and fall back to one thread on an otherwise idle machine.
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)


def free_cores() -> int:
    """Cores this process may use minus the ones other work keeps busy (1-minute load average), at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:  # not available on this platform
        busy = 0.0
    return max(1, min(cores, int(cores - busy + 0.5)))


_first_choice: list[int] = []  # the free cores when this process first asked


def set_torch_threads(num_threads: int | None = None) -> int:
    """Set torch's intra-op threads to `num_threads` (remembered for later calls), or when None to the earlier
    choice, else to the cores free now; return the number set."""
    import torch

    if num_threads:  # an explicit choice is this process's choice from now on
        _first_choice[:] = [num_threads]
    elif not _first_choice:
        _first_choice.append(free_cores())
    chosen = _first_choice[0]
    if chosen != torch.get_num_threads():
        torch.set_num_threads(chosen)
        logger.info("torch uses %d thread(s) (--num_threads to change)", chosen)
    return chosen
