"""The demo command, run for real: serve, answer, stop on Ctrl-C, and run again."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.workers

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen[str], timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"rundemo exited early:\n{process.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def _child_pids(output: str) -> list[int]:
    return [
        int(line.rsplit(" ", 1)[1])
        for line in output.splitlines()
        if line.strip().startswith(("web server pid", "qcluster pid"))
    ]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class TestRundemo:
    def _run_once(self, env: dict[str, str], port: int) -> str:
        process = subprocess.Popen(
            [sys.executable, MANAGE, "rundemo", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            assert _wait_for(f"{base}/admin/login/", process) == 200
            assert _wait_for(f"{base}/static/admin/css/base.css", process) == 200

            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=45)
        finally:
            if process.poll() is None:
                process.kill()
        output = process.stdout.read()

        assert code == 0, output
        return output

    def test_serves_stops_on_ctrl_c_and_keeps_data(self, tmp_path: Path) -> None:
        database = tmp_path / "demo.sqlite3"
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{database}",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "rundemo-test-secret-key-" + uuid.uuid4().hex,
            "DJANGO_SUPERUSER_PASSWORD": "demo-password-123",
            "SPINE_Q_CLUSTER_NAME": "rundemo-test-" + uuid.uuid4().hex[:8],
        }

        first = self._run_once(env, _free_port())
        second = self._run_once(env, _free_port())

        assert "created superuser 'admin'" in first
        assert "superuser 'admin' exists" in second
        assert "qcluster stopped" in first and "web server stopped" in first
        assert "static files collected in" in first
        assert "No directory at" not in first + second
        assert not any(_alive(pid) for pid in _child_pids(first + second))
        with sqlite3.connect(database) as connection:
            users = connection.execute(
                "SELECT COUNT(*) FROM auth_user WHERE username = 'admin'"
            ).fetchone()[0]
        assert users == 1

    def test_refuses_a_port_in_use(self, tmp_path: Path) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
            "DJANGO_DEBUG": "1",
        }
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]

            finished = subprocess.run(
                [sys.executable, MANAGE, "rundemo", "--port", str(port)],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )

        assert finished.returncode == 1
        assert f"127.0.0.1:{port} is already in use" in finished.stderr
