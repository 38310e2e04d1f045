"""Fixtures shared by every test: which outside services this run may use.

A test that needs PostgreSQL, Redis, a browser or Graphviz asks for the matching
fixture. Where the service is missing the test is skipped, except when
SPINE_REQUIRE_POSTGRES, SPINE_REQUIRE_REDIS, SPINE_REQUIRE_BROWSER or
SPINE_REQUIRE_GRAPHVIZ is set (as `.ci/run` does), where a missing service fails
the test instead, so CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from django.conf import settings

CHROMIUM = "/usr/bin/chromium"
_file_database_dir: str | None = None


def _needs_file_database(item: pytest.Item) -> bool:
    """Whether a test commits for real: threads, a live server or workers share it.

    Those cannot share pytest-django's in-memory SQLite database (a shared cache
    locks whole tables and fails concurrent writers instead of waiting).
    """
    marker = item.get_closest_marker("django_db")
    fixtures = getattr(item, "fixturenames", ())
    return bool(marker and marker.kwargs.get("transaction")) or any(
        name in fixtures for name in ("transactional_db", "live_server")
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    """Give the session a file SQLite test database when such a test will run."""
    global _file_database_dir
    if not any(_needs_file_database(item) for item in items):
        return
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3":
        return
    test_settings = database.setdefault("TEST", {})
    if test_settings.get("NAME") and test_settings["NAME"] != ":memory:":
        return
    _file_database_dir = tempfile.mkdtemp(prefix="spine-tests-")
    test_settings["NAME"] = os.path.join(_file_database_dir, "test.sqlite3")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the file database and its WAL files."""
    if _file_database_dir:
        shutil.rmtree(_file_database_dir, ignore_errors=True)


def _required(variable: str) -> bool:
    return os.environ.get(variable, "").lower() in {"1", "true", "yes", "on"}


def _unavailable(reason: str, variable: str) -> None:
    if _required(variable):
        pytest.fail(f"{reason}, and {variable} says this run needs it")
    pytest.skip(reason)


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1
        ):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres() -> None:
    """Require the test database to be PostgreSQL."""
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        _unavailable(
            "DATABASE_URL does not point at PostgreSQL", "SPINE_REQUIRE_POSTGRES"
        )


@pytest.fixture(scope="session")
def redis_url() -> str:
    """Return the URL of a reachable Redis server."""
    url = os.environ.get("REDIS_URL", "")
    if not url:
        _unavailable("REDIS_URL is not set", "SPINE_REQUIRE_REDIS")
    if not _reachable(url, 6379):
        _unavailable(f"Redis at {url} does not answer", "SPINE_REQUIRE_REDIS")
    return url


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium, which Playwright drives instead of its own download."""
    found = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if not found:
        _unavailable("Debian's chromium is not installed", "SPINE_REQUIRE_BROWSER")
    return found


@pytest.fixture(scope="session")
def graphviz_dot() -> str:
    """Graphviz's `dot`, which lays out the run page's dependency graph."""
    found = shutil.which("dot")
    if not found:
        _unavailable("Graphviz's dot is not installed", "SPINE_REQUIRE_GRAPHVIZ")
    return found


@pytest.fixture(scope="session", autouse=True)
def _empty_test_queue() -> Iterator[None]:
    """Drop what tests enqueued without workers, so no stale task is left behind."""
    yield
    url = os.environ.get("REDIS_URL", "")
    if url and _reachable(url, 6379):
        import redis

        name = settings.Q_CLUSTER["name"]
        redis.Redis.from_url(url).delete(f"django_q:{name}:q")
