"""Waking fan-out workers when the log has new events.

The writing process owns one pipe per worker: after each commit it writes a byte to every pipe
(:meth:`WakePipes.notify`, a non-blocking ``write`` per worker: a full pipe already holds a
wake-up, so nothing is lost). A worker reads its end in its event loop and runs its pump. The
pump also polls the log on a timer, so events written by any other process still go out; and a
pipe that reaches end of file means the writing process is gone, which stops the worker.

Why a pipe (measured in ``benches/README.md``, "Relay fan-out"): a wake-up costs the writer
one ``write`` per worker per commit (group commit makes that one per batch of events; ~7 µs for
four workers with their reads) and an idle worker nothing, and an event reaches a subscriber
in 0.15 ms (p50; 2.4 ms p99); polling alone adds up to the poll interval to every event; an
inotify watch on ``data.mdb`` fires for every page write of every table (LMDB writes pages
with ``pwrite``), not once per commit of the log.
"""

from __future__ import annotations

import contextlib
import os


class WakePipes:
    """The writing side: one pipe per worker."""

    def __init__(self) -> None:
        self._writers: list[int] = []

    def new(self) -> tuple[int, int]:
        """A new pipe; returns its read end, to hand to the worker (then close it here with
        :func:`os.close`), and its write end, to :meth:`drop` when the worker is gone. The
        read end is non-blocking and inheritable."""
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        os.set_blocking(read_end, False)
        os.set_inheritable(read_end, True)
        self._writers.append(write_end)
        return read_end, write_end

    def drop(self, write_end: int) -> None:
        """Close the pipe of a worker that has exited."""
        if write_end in self._writers:
            self._writers.remove(write_end)
            os.close(write_end)

    def notify(self) -> None:
        """Wake every worker. Safe from any thread."""
        for fd in self._writers:
            # Full: a wake-up is pending already. Broken: that worker has exited.
            with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
                os.write(fd, b"\0")

    def close(self) -> None:
        """Close every write end: the workers see end of file."""
        writers, self._writers = self._writers, []
        for fd in writers:
            os.close(fd)


def drain(fd: int) -> bool:
    """Read what a wake pipe holds; False when the writer has closed it."""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            return True
        if not chunk:
            return False
