"""The bodies of RFC 3.5.3, field by field, with their types, in real answers.

Each RFC model is checked where the API serves it: GroupSummary in the group
list, GroupDetail at a group, GroupRunSummary in the run list, GroupRunDetail and
its StepStatus entries at a run, both before it ran (nulls) and after (values).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from rest_framework import status
from rest_framework.test import APIClient

from pipeline_groups import engine
from pipeline_groups.models import GroupRun, RunStatus, StepStatus, TriggerSource
from tests.api.conftest import FINRA_RUN_PARAMS
from tests.api.rfc import (
    GROUP_DETAIL,
    GROUP_SUMMARY,
    RUN_DETAIL,
    RUN_SUMMARY,
    STEP_STATUS,
)

BATCH_ID = re.compile(r"^group_finra\.weekly_refresh_\d{8}T\d{6}_[0-9a-f]{6}$")


def has_type(value: Any, expected: type) -> bool:
    """Whether a JSON value is of the RFC type (a time is an ISO 8601 string)."""
    if expected is dt.datetime:
        return isinstance(value, str) and bool(dt.datetime.fromisoformat(value))
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def mismatches(body: dict[str, Any], model: dict[str, tuple[type, bool]]) -> list:
    """List the fields of `model` that `body` lacks or holds with another type."""
    wrong = []
    for field, (expected, nullable) in model.items():
        if field not in body:
            wrong.append((field, "missing"))
        elif body[field] is None:
            if not nullable:
                wrong.append((field, "null"))
        elif not has_type(body[field], expected):
            wrong.append((field, type(body[field]).__name__))
    return wrong


@pytest.fixture
def finished_run(admin_client: APIClient, weekly_group: dict) -> str:
    """Start a weekly refresh through the API and run it to the end here."""
    response = admin_client.post(
        "/api/groups/finra.weekly_refresh/run",
        {"params": FINRA_RUN_PARAMS},
        format="json",
    )
    assert response.status_code == status.HTTP_202_ACCEPTED
    run_id = response.json()["id"]
    assert engine.run_inline(GroupRun.objects.get(pk=run_id)).status == "completed"
    return run_id


@pytest.mark.django_db
class TestGroupShapes:
    def test_list_holds_group_summaries(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        body = admin_client.get("/api/groups/").json()

        assert mismatches(body["results"][0], GROUP_SUMMARY) == []

    def test_detail_holds_a_group_detail(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        body = admin_client.get("/api/groups/finra.weekly_refresh").json()

        assert mismatches(body, GROUP_DETAIL) == []
        assert set(body["spec"]) == {"apiVersion", "kind", "metadata", "spec"}


@pytest.mark.django_db(transaction=True)
class TestRunShapes:
    def test_new_run_is_a_run_detail_with_nulls(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        response = admin_client.post(
            "/api/groups/finra.weekly_refresh/run",
            {"params": FINRA_RUN_PARAMS},
            format="json",
        )

        body = response.json()
        assert response.status_code == status.HTTP_202_ACCEPTED
        assert mismatches(body, RUN_DETAIL) == []
        assert BATCH_ID.match(body["batch_id"])
        assert (body["started_at"], body["duration_seconds"]) == (None, None)
        for step in body["steps"]:
            assert mismatches(step, STEP_STATUS) == []
            assert step["status"] == StepStatus.PENDING
            assert step["execution_id"] is None

    def test_finished_run_is_a_run_detail_with_values(
        self, admin_client: APIClient, finished_run: str
    ) -> None:
        body = admin_client.get(f"/api/groups/runs/{finished_run}").json()

        assert mismatches(body, RUN_DETAIL) == []
        assert body["status"] == RunStatus.COMPLETED
        assert body["trigger_source"] == TriggerSource.API
        assert isinstance(body["duration_seconds"], float)
        for step in body["steps"]:
            assert mismatches(step, STEP_STATUS) == []
            assert step["execution_id"] and step["completed_at"]

    def test_list_holds_run_summaries(
        self, admin_client: APIClient, finished_run: str
    ) -> None:
        body = admin_client.get("/api/groups/runs").json()

        assert mismatches(body["results"][0], RUN_SUMMARY) == []
        assert body["results"][0]["id"] == finished_run
