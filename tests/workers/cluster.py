"""One real `manage.py qcluster` process tree, for the worker tests and the bench.

Nothing here needs pytest, so `bench/overhead.py` starts its workers the same way
the tests do. A cluster is signalled through its main process only (SIGTERM to
the whole group hangs it, DESIGN.md section 7); it runs in its own session, so
whatever it leaves behind, orphans included, is found and killed by session id.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class ClusterNotReady(RuntimeError):
    """The cluster exited, or did not start all its processes, in time."""


def session_pids(session_id: int) -> list[int]:
    """Every live process whose session is `session_id` (a cluster and its orphans)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state ppid pgrp session ...
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[3]) == session_id:
            pids.append(int(entry))
    return pids


class Cluster:
    """One `manage.py qcluster` in its own session, writing to `log_path`."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int) -> None:
        self.workers = workers
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in kill()
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster", "--skip-checks"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        """The main process, the only one to signal to stop the cluster."""
        return self.process.pid

    def pids(self) -> list[int]:
        """Return the main process and all it started, orphans included."""
        return session_pids(self.process.pid)

    def log(self) -> str:
        """Return the end of what the cluster wrote, to explain a failure."""
        return self.log_path.read_text(errors="replace")[-6000:]

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until main, sentinel, monitor, pusher and every worker exist."""
        expected = self.workers + 4
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ClusterNotReady(f"qcluster exited early:\n{self.log()}")
            if len(self.pids()) >= expected:
                # Let the pusher open its broker connection.
                time.sleep(0.3)
                return
            time.sleep(0.05)
        raise ClusterNotReady(f"qcluster not ready after {timeout}s:\n{self.log()}")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        """Signal the main process and wait for the whole tree to end."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
        deadline = time.monotonic() + 5
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.kill()
        return code

    def kill(self) -> None:
        """SIGKILL every process of the cluster, main and orphans alike."""
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.process.poll() is None:
            self.process.wait(10)
        deadline = time.monotonic() + 5
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.02)
        self._log.close()
