"""Shared set-up for the sample domain tests: a context, and input folders.

The pipelines find their files under settings.SPINE_DATA_DIR, read at call time,
so a test points that setting at the committed fixtures or at a folder of its
own in tmp_path. Tests that go through the engine run steps with a heartbeat
thread that opens its own connection, so they commit for real and, on SQLite,
get a file database (tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline_groups import ExecutionContext

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"


def data_lines(path: Path) -> int:
    """How many rows a data file holds below its header."""
    return len(path.read_text().splitlines()) - 1


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
