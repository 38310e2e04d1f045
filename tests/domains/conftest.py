"""Shared set-up for the sample domain tests: a context, and input folders.

The pipelines find their files under settings.SPINE_DATA_DIR, read at call time,
so a test points that setting at the committed fixtures or at a folder of its
own in tmp_path. Tests that go through the engine run steps with a heartbeat
thread that opens its own connection, so they commit for real and, on SQLite,
need a file database: the switch below is made only when such a test is
collected, as in tests/engine/conftest.py.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from pipeline_groups import ExecutionContext

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
ENGINE_TESTS = Path(__file__).resolve().parent / "test_engine_results.py"
_sqlite_dir: str | None = None


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    """Give the session a file SQLite test database when an engine test will run."""
    global _sqlite_dir
    if not any(Path(str(item.fspath)) == ENGINE_TESTS for item in items):
        return
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3":
        return
    test_settings = database.setdefault("TEST", {})
    if test_settings.get("NAME") and test_settings["NAME"] != ":memory:":
        return
    _sqlite_dir = tempfile.mkdtemp(prefix="spine-domains-")
    test_settings["NAME"] = os.path.join(_sqlite_dir, "test.sqlite3")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the file database and its WAL files."""
    if _sqlite_dir:
        shutil.rmtree(_sqlite_dir, ignore_errors=True)


@pytest.fixture
def ctx() -> ExecutionContext:
    """Return the context a pipeline gets, for calling it directly."""
    return ExecutionContext(execution_id="01TESTEXECUTION0000000000", batch_id="b")


@pytest.fixture
def fixture_data(settings: Any) -> Path:
    """Point SPINE_DATA_DIR at the committed sample data and return that folder."""
    settings.SPINE_DATA_DIR = FIXTURES
    return FIXTURES


@pytest.fixture
def data_dir(settings: Any, tmp_path: Path) -> Path:
    """Point SPINE_DATA_DIR at an empty folder of this test and return it."""
    folder = tmp_path / "data"
    folder.mkdir()
    settings.SPINE_DATA_DIR = folder
    return folder


@pytest.fixture
def write_file(data_dir: Path) -> Callable[[str, str], Path]:
    """Return a writer of one input file under the test's data folder."""

    def write(relative: str, text: str) -> Path:
        path = data_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write
