"""Indexing jobs spread over the cores: a cold index hands whole projects to a process
pool, whose workers die with their parent."""

from __future__ import annotations

import os
from typing import TypeVar

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

Job = TypeVar("Job")
Done = TypeVar("Done")


def run_jobs(work: Callable[[Job], Done], jobs: list[Job], *, parallel: bool) -> list[Done]:
    """Projects are independent: a big run (a cold index, ``parallel``) spreads them over
    the cores. ``work`` must be a module-level function (it is pickled by name)."""
    if parallel and (os.cpu_count() or 1) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # Not fork: a forked worker would inherit the lock's descriptor and hold the lock
        # for as long as it lives, past a killed parent. Spawned workers share nothing
        # but their pipes, and die with their parent (see _die_with_parent).
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(mp_context=context, initializer=_die_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            return list(pool.map(work, jobs, chunksize=16))
    return [work(job) for job in jobs]


def _die_with_parent(parent: int) -> None:
    """A worker's first act: ask the kernel for SIGKILL when its parent dies (Linux), so
    no orphan keeps reading and writing the tree after ``kill -9`` of ``repo add``."""
    import signal

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the pool's pipes end it instead
        pass
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)
