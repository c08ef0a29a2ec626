"""What a loaded model takes in memory: the number a multi-model endpoint's budget counts.

The rule, in order:

1. **The model's own report.** The loaded model (what ``load()`` returned, or the
   ``ModelAdapter``) may say what it takes with a ``memory_bytes`` attribute, or a
   ``memory_bytes()`` method, giving a whole number of bytes. It wins: only the model
   knows about memory a measurement cannot see (GPU memory, files it maps lazily) or
   should not count (a folder full of files it never reads).
2. **Else, measured:** the growth of this process's resident memory over the load, but
   never less than the folder's size on disk. Both are lower bounds (a reload may reuse
   memory the allocator kept; mapped weights become resident as they are read), so the
   larger is the safer one: counting too much only unloads a model early, counting too
   little can get the whole endpoint killed for running out of memory.

All the models of an endpoint share one process (MMS, by contrast, runs each model in worker
processes of its own), so two loads at once would each see the other's growth:
measured loads take one lock per process and run one at a time. Around each, the memory
freed so far is handed back to the system (garbage collections until one finds nothing,
then glibc's ``malloc_trim``), so the load's own allocations show as growth instead of
reusing pages an unloaded model left behind, and what the load threw away is not counted.
Growth under :data:`NOISE_FLOOR` is not told apart from the interpreter's own churn and
counts as nothing measured. What other threads allocate or free meanwhile (requests to
the models already loaded) still moves the number; a model that needs it exact reports
it. Where resident memory cannot be read (no ``/proc``), the report or the size on disk
is all there is.
"""

from __future__ import annotations

import ctypes
import gc
import operator
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from modelshelf.core.deploy.model_handler import ModelHandler
from modelshelf.core.deploy.user_code import call_user
from modelshelf.core.errors import ServingError

REPORT = "memory_bytes"
# Loading any model moves resident memory by up to a few MiB that are not the model's: new
# threads, caches, and glibc keeping the top of a thread's heap (which malloc_trim leaves
# alone) once its dynamic mmap threshold has risen; the store's copy alone keeps a 4 MiB
# buffer there. Budgets are set in hundreds of MiB, so 8 MiB of doubt costs nothing.
NOISE_FLOOR = 8 << 20

_MEASURING = threading.Lock()  # resident memory is the process's: one measured load at once
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class Footprint:
    """What a loaded model counts against the budget, and what the number is."""

    size: int
    basis: str  # for messages: how ``size`` was found


def resident_bytes() -> int | None:
    """This process's resident memory now; None where it cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc only; musl and macOS have none
    except (AttributeError, OSError, TypeError):
        return None


_TRIM = _malloc_trim()


def free_unused_memory() -> None:
    """Collect garbage and hand the allocator's free pages back to the system."""
    # What one collection frees can release more garbage (finalizers, weak references):
    # collect until nothing more is found (one pass left tens of MiB to the next load),
    # a few passes at most.
    for _ in range(4):
        if not gc.collect():
            break
    if _TRIM is not None:
        _TRIM(0)


def measured_load(load: Callable[[], ModelHandler]) -> tuple[ModelHandler, int | None]:
    """Run ``load``, alone in this process; the handler and the resident memory it added
    (None when that cannot be read)."""
    with _MEASURING:
        free_unused_memory()
        before = resident_bytes()
        handler = load()
        free_unused_memory()
        after = resident_bytes()
    if before is None or after is None:
        return handler, None
    return handler, after - before


def footprint(handler: ModelHandler, growth: int | None) -> Footprint:
    """What ``handler`` counts: its report, else ``growth`` but at least its size on disk."""
    reported = _reported(handler)
    if reported is not None:
        return Footprint(reported, f"as its {REPORT} reports")
    if growth is not None and growth >= NOISE_FLOOR and growth > handler.size_bytes:
        return Footprint(growth, "the resident memory its load added")
    return Footprint(handler.size_bytes, "its folder's size on disk")


def _reported(handler: ModelHandler) -> int | None:
    report = getattr(handler.model, REPORT, None)
    if report is None:
        return None
    value = call_user(handler.name, REPORT, report) if callable(report) else report
    try:
        size = operator.index(value)  # a NumPy integer (a sum of nbytes) is one too
    except TypeError:
        size = -1
    if isinstance(value, bool) or size < 0:
        raise ServingError(
            f"{handler.name}: {REPORT} must be a whole number of bytes (0 or more), not {value!r}"
        )
    return size


def unmeasured_warning() -> str | None:
    """Why loads cannot be measured here, or None if they can."""
    if resident_bytes() is None:
        return (
            "this process's resident memory cannot be read here (no /proc/self/statm): the "
            f"memory budget counts each model's {REPORT} report, else its size on disk"
        )
    return None
