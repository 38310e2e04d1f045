"""Fixtures of the page tests: logged-in clients and runs with steps in any state.

Browser tests need the live server, the test and a thread that drives runs to
share one database, so when one is collected on SQLite the session uses a file
database instead of the in-memory one (an in-memory shared cache locks whole
tables and fails concurrent writers instead of waiting).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from pipeline_groups.models import (
    ExecutionStatus,
    GroupDefinition,
    GroupRun,
    RunStatus,
)
from tests.factories import (
    DEFAULT_PASSWORD,
    ExecutionFactory,
    GroupDefinitionFactory,
    GroupRunExecutionFactory,
    GroupRunFactory,
    UserFactory,
)

PAGES_DIR = Path(__file__).resolve().parent
_sqlite_dir: str | None = None


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    """Give the session a file SQLite test database when a browser test will run."""
    global _sqlite_dir
    if not any(item.get_closest_marker("browser") for item in items):
        return
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3":
        return
    test_settings = database.setdefault("TEST", {})
    if test_settings.get("NAME") and test_settings["NAME"] != ":memory:":
        return
    _sqlite_dir = tempfile.mkdtemp(prefix="spine-pages-")
    test_settings["NAME"] = os.path.join(_sqlite_dir, "test.sqlite3")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the file database of the browser tests."""
    if _sqlite_dir:
        shutil.rmtree(_sqlite_dir, ignore_errors=True)


def login(user: Any) -> Client:
    """Return a client logged in as the user through the login form."""
    client = Client()
    assert client.login(username=user.username, password=DEFAULT_PASSWORD)
    return client


@pytest.fixture
def viewer(db: None) -> Any:
    """Return a user who may read the pages but not run anything."""
    return UserFactory(username="viewer")


@pytest.fixture
def operator(db: None) -> Any:
    """Return a user allowed to run, cancel and retry groups."""
    user = UserFactory(username="operator")
    user.user_permissions.add(Permission.objects.get(codename="run_group"))
    return user


@pytest.fixture
def viewer_client(viewer: Any) -> Client:
    return login(viewer)


@pytest.fixture
def operator_client(operator: Any) -> Client:
    return login(operator)


StepState = tuple[str, str]


def _step_fields(status: str, started: Any, seconds: float) -> dict[str, Any]:
    fields: dict[str, Any] = {"status": status}
    if status in {ExecutionStatus.RUNNING, *RUN_ENDED_STEPS}:
        fields["started_at"] = started
    if status in RUN_ENDED_STEPS:
        fields["completed_at"] = started + timedelta(seconds=seconds)
    if status == ExecutionStatus.FAILED:
        fields["error"] = "ValueError: week_ending 2026-01-04 is not a Friday\nmore"
        fields["traceback"] = (
            "Traceback (most recent call last):\n  File ...\n"
            "ValueError: week_ending 2026-01-04 is not a Friday\n"
        )
    return fields


RUN_ENDED_STEPS = {ExecutionStatus.COMPLETED, ExecutionStatus.FAILED}


@pytest.fixture
def make_run(db: None) -> Callable[..., GroupRun]:
    """Build a run of the two-step factory group with its steps in given states.

    `make_run(group, RunStatus.FAILED, ingest="completed", normalize="failed")`;
    a step left out has no execution yet (pending in the plan).
    """

    def build(
        group: GroupDefinition | None = None,
        status: str = RunStatus.COMPLETED,
        *,
        created_ago: float = 60.0,
        **steps: str,
    ) -> GroupRun:
        group = group or GroupDefinitionFactory()
        created = timezone.now() - timedelta(seconds=created_ago)
        run = GroupRunFactory(group=group, status=status, created_at=created)
        started = created + timedelta(seconds=1)
        ended = started
        for order, step_name in enumerate(("ingest", "normalize")):
            step_status = steps.get(step_name)
            if step_status is None:
                continue
            execution = ExecutionFactory(
                pipeline_name=run.plan["steps"][order]["pipeline_name"],
                batch_id=run.batch_id,
                params=dict(run.params),
                **_step_fields(step_status, ended, 12.0 + order * 30),
            )
            GroupRunExecutionFactory(
                group_run=run,
                execution=execution,
                step_name=step_name,
                sequence_order=order,
            )
            ended = execution.completed_at or ended
        if steps:
            run.started_at = started
        if status in {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED}:
            run.completed_at = ended
        run.save()
        return run

    return build
