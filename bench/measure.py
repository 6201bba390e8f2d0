"""Benchmark helper: run a command and report its wall time and the peak memory of its whole
process tree (the sum of every descendant's resident set, polled from /proc), so a parent and
its dbt subprocess count together."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Measurement:
    seconds: float
    peak_rss_bytes: int
    returncode: int

    @property
    def peak_rss_gib(self) -> float:
        return self.peak_rss_bytes / 2**30


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def _tree_rss(root: int) -> int:
    total, stack, seen = 0, [root], set()
    page = os.sysconf("SC_PAGE_SIZE")
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
        stack.extend(_children(pid))
    return total


def run_measured(command: list[str], env: dict[str, str] | None = None,
                 cwd: Path | None = None, interval: float = 0.1,
                 quiet: bool = True) -> Measurement:
    """Run `command`, polling its process tree's memory every `interval` seconds."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=cwd,
        stdout=subprocess.DEVNULL if quiet else None,
        stderr=subprocess.STDOUT if quiet else None,
    )
    peak = 0
    done = threading.Event()

    def poll() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(process.pid))
            done.wait(interval)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    returncode = process.wait()
    done.set()
    poller.join()
    return Measurement(time.perf_counter() - started, peak, returncode)
