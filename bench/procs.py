"""Resident memory (RSS) of a process tree, sampled in the background.

bench/run.py samples a build (`build_db.py` and the parser processes it starts) and
bench/loadtest.py the Datasette server, and both report the peak: one sampler here, so
that the two figures are taken, and summed over child processes, in the same way.

It lives apart from bench/servers.py because it measures any command, not only the
server, and because it needs psutil, which bench/loadtest.py only asks for once its
options are read (it then says how to install psutil instead of failing on import).
"""
from __future__ import annotations

import threading
import time

import psutil


def tree_rss(root: psutil.Process, each: dict[int, int] | None = None) -> int:
    """RSS summed over a process and all its descendants, in bytes; 0 once it is gone.

    Pages shared between processes (a forked worker's copy-on-write pages) are counted
    once per process, as `ps` or `top` would add them up. A child that exits between
    the listing and its reading is left out. `each`, if given, receives every
    process's RSS by pid.
    """
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            rss = proc.memory_info().rss
        except psutil.Error:
            continue
        total += rss
        if each is not None:
            each[proc.pid] = rss
    return total


class TreeSampler(threading.Thread):
    """Samples `tree_rss` of process `pid` every `every` seconds until stopped, or for at
    most `limit_seconds` when given, keeping every sample in `samples`.

    The process must exist when the sampler is made (psutil.NoSuchProcess otherwise);
    a child process that has not been waited for always does.
    """

    def __init__(self, pid: int, every: float, limit_seconds: float | None = None):
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.every = every
        self.limit_seconds = limit_seconds
        self.samples: list[int] = []
        #: When each sample was taken, in seconds since the sampler started.
        self.times: list[float] = []
        #: Each process's own peak, by pid: which of them sets the tree's.
        self.peaks: dict[int, int] = {}
        #: Each process's RSS in the sample where the tree peaked.
        self.at_peak: dict[int, int] = {}
        self._halt = threading.Event()

    def rss(self, each: dict[int, int] | None = None) -> int:
        """One sample now, outside the thread (not kept in `samples`)."""
        return tree_rss(self.process, each)

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)

    def run(self) -> None:
        start = time.monotonic()
        end = None if self.limit_seconds is None else start + self.limit_seconds
        while not self._halt.is_set() and (end is None or time.monotonic() < end):
            each: dict[int, int] = {}
            total = self.rss(each)
            if total > sum(self.at_peak.values()):
                self.at_peak = each
            self.samples.append(total)
            self.times.append(time.monotonic() - start)
            for pid, rss in each.items():
                self.peaks[pid] = max(rss, self.peaks.get(pid, 0))
            self._halt.wait(self.every)

    def stop(self, timeout: float | None = None) -> int:
        """Stop sampling, wait up to `timeout` seconds for the thread (when it was
        started) and return the peak."""
        self._halt.set()
        if self.ident is not None:
            self.join(timeout)
        return self.peak
