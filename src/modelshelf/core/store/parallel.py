"""Run per-file work on a thread pool, the biggest files first."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar


class _HasSize(Protocol):
    @property
    def size(self) -> int: ...


_F = TypeVar("_F", bound=_HasSize)
_T = TypeVar("_T")


def largest_first(
    work: Callable[[_F], _T], files: Sequence[_F], workers: int, name: str
) -> list[_T]:
    """Run ``work`` over ``files`` in parallel, biggest files first, results in input order.

    Starting the big files first keeps every core busy to the end (small files fill the
    gaps), instead of a lone large file finishing after everything else: a load of three
    large files and 1,000 small ones in manifest order left one core idle while the last
    large file was copied.
    """
    order = sorted(range(len(files)), key=lambda i: files[i].size, reverse=True)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix=name) as pool:
        done = dict(zip(order, pool.map(lambda i: work(files[i]), order), strict=True))
    return [done[i] for i in range(len(files))]
