"""`manage.py rundemo`: set up the demo and serve it with one django-q2 worker.

It migrates the database, imports the group files, makes sure a superuser
`admin` exists, then runs the web server and one `qcluster` as child processes
until Ctrl-C. Each child runs in its own session, so the terminal's Ctrl-C
reaches only this command, which then stops each child through its main
process: SIGINT to the web server, SIGTERM to the cluster's main process (never
its process group, which hangs it; see DESIGN.md section 7). Running it again
reuses the database, so nothing is lost between runs.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

DEMO_USERNAME = "admin"
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.2


class Command(BaseCommand):
    """Migrate, import groups, create the demo superuser, serve and work."""

    help = (
        "Run the demo: migrate, import groups/, create the superuser 'admin', then "
        "serve on 127.0.0.1:8000 with one django-q2 worker until Ctrl-C."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Where to listen."""
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind.")
        parser.add_argument(
            "--port", type=int, default=8000, help="Port to serve on (default 8000)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Prepare the database, then run the two children until asked to stop."""
        host, port = options["host"], options["port"]
        if not 0 < port < 65536:
            raise CommandError(f"--port {port} is not a TCP port; use 1 to 65535")
        if _port_taken(host, port):
            raise CommandError(
                f"{host}:{port} is already in use; stop what listens there or pass "
                "--port with a free port"
            )

        self.stdout.write(self.style.MIGRATE_HEADING("Preparing the database"))
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("  migrations applied")
        call_command("importgroups", stdout=self.stdout, stderr=self.stderr)
        self._ensure_superuser()
        # Collected as a deployment would be; whitenoise's finders still serve
        # the app's current files, and a missing STATIC_ROOT warns no more.
        call_command("collectstatic", interactive=False, verbosity=0)
        self.stdout.write(f"  static files collected in {settings.STATIC_ROOT}")

        supervisor = Supervisor(host, port, self)
        exit_code = supervisor.run()
        if exit_code:
            raise CommandError("the demo stopped because a child process failed")

    def _ensure_superuser(self) -> None:
        user_model = get_user_model()
        if user_model.objects.filter(username=DEMO_USERNAME).exists():
            self.stdout.write(
                f"  superuser {DEMO_USERNAME!r} exists; its password is unchanged"
            )
            return

        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser(
            DEMO_USERNAME, email=f"{DEMO_USERNAME}@example.com", password=password
        )
        if generated:
            self.stdout.write(
                self.style.WARNING(
                    f"  created superuser {DEMO_USERNAME!r} with password {password} "
                    "(shown only this once; set DJANGO_SUPERUSER_PASSWORD to choose it)"
                )
            )
        else:
            self.stdout.write(
                f"  created superuser {DEMO_USERNAME!r} with the password from "
                "DJANGO_SUPERUSER_PASSWORD"
            )


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


class Supervisor:
    """Run the web server and one qcluster, and stop both when either should stop."""

    def __init__(self, host: str, port: int, command: BaseCommand) -> None:
        self.host = host
        self.port = port
        self.command = command
        self.stop_requested = False
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def run(self) -> int:
        """Start both children, wait for a signal or a death, stop both; 0 if clean."""
        previous = {
            signum: signal.signal(signum, self._request_stop)
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self._start()
            failed = self._wait()
        finally:
            self._stop_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return 1 if failed else 0

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_requested = True

    def _start(self) -> None:
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        commands = {
            "web server": [
                sys.executable,
                manage,
                "runserver",
                f"{self.host}:{self.port}",
                "--noreload",
            ],
            "qcluster": [sys.executable, manage, "qcluster"],
        }
        out = self.command.stdout
        out.write(self.command.style.MIGRATE_HEADING("Starting"))
        for name, argv in commands.items():
            # A session of its own: the terminal's Ctrl-C reaches only this
            # command, which then stops each child through its main process.
            self.children[name] = subprocess.Popen(argv, start_new_session=True)
            out.write(f"  {name} pid {self.children[name].pid}")

        if self._wait_until_listening():
            out.write(
                self.command.style.SUCCESS(
                    f"Serving on http://{self.host}:{self.port}/ with one worker; "
                    "press Ctrl-C to stop"
                )
            )

    def _wait_until_listening(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline and not self.stop_requested:
            if self._dead_child() is not None:
                return False
            if _port_taken(self.host, self.port):
                return True
            time.sleep(POLL_SECONDS)
        return False

    def _dead_child(self) -> str | None:
        for name, process in self.children.items():
            if process.poll() is not None:
                return name
        return None

    def _wait(self) -> bool:
        """Block until a stop is requested (False) or a child dies (True)."""
        while not self.stop_requested:
            dead = self._dead_child()
            if dead is not None:
                code = self.children[dead].returncode
                self.command.stderr.write(
                    f"The {dead} exited with status {code}; stopping the demo"
                )
                return True
            time.sleep(POLL_SECONDS)
        return False

    def _stop_all(self) -> None:
        out = self.command.stdout
        out.write(self.command.style.MIGRATE_HEADING("Stopping"))
        stop_signals = {"web server": signal.SIGINT, "qcluster": signal.SIGTERM}
        for name, process in self.children.items():
            if process.poll() is None:
                process.send_signal(stop_signals[name])

        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for name, process in self.children.items():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                # Last resort: a cluster's workers must not outlive the demo.
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                out.write(f"  {name} killed after {STOP_TIMEOUT_SECONDS:.0f}s")
            else:
                out.write(f"  {name} stopped")
