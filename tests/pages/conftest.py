"""Fixtures of the page tests: logged-in clients and runs with steps in any state.

Browser tests need the live server, the test and a thread that drives runs to
share one database; tests/conftest.py gives the session a file database for
them on SQLite.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
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
