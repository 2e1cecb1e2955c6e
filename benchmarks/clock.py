"""Wall and CPU time of a benchmark step, for machines shared with other work."""

from __future__ import annotations

import resource
import time


class Clock:
    """Wall time and the CPU time (user + system) of child processes that finished inside the
    block: on a shared machine the CPU time is the robust measure of work, the wall time shows
    the wait."""

    def __enter__(self) -> Clock:
        self.wall = time.perf_counter()
        self.cpu = self._children()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = self._children() - self.cpu

    @staticmethod
    def _children() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime
