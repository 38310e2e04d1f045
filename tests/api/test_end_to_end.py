"""RFC appendix B end to end: the API starts a run that real `qcluster` workers run.

The group is created through the API, run with the body of B.1 and polled with
B.2 until the workers finish it; the clusters come from the worker tests' harness
(tests/workers/conftest.py) with the API's test pipelines loaded as well.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from rest_framework import status
from rest_framework.test import APIClient

from pipeline_groups.models import RUN_TERMINAL
from tests.workers.conftest import Workers

pytestmark = [pytest.mark.workers, pytest.mark.django_db(transaction=True)]

PIPELINE_MODULES = "tests.workers.pipelines,tests.api.pipelines"
B1_BODY = {"params": {"tier": "NMS_TIER_1", "week_ending": "2026-01-03"}}
B2_FIELDS = {
    "id",
    "group_name",
    "group_version",
    "status",
    "trigger_source",
    "batch_id",
    "started_at",
    "completed_at",
    "duration_seconds",
    "steps",
}
B2_STEP_FIELDS = {
    "step_name",
    "pipeline_name",
    "execution_id",
    "status",
    "started_at",
    "completed_at",
}


def poll_until_finished(
    client: APIClient, run_id: str, pool: Workers, timeout: float = 60.0
) -> dict[str, Any]:
    """GET the run (B.2) until it is finished; fail with the worker logs if not."""
    deadline = time.monotonic() + timeout
    seen = set()
    while time.monotonic() < deadline:
        response = client.get(f"/api/groups/runs/{run_id}")
        assert response.status_code == status.HTTP_200_OK
        body = response.json()
        seen.add(body["status"])
        if body["status"] in RUN_TERMINAL:
            return {**body, "seen": seen}
        time.sleep(0.1)
    pytest.fail(f"run {run_id} did not finish in {timeout}s\n{pool.logs()}")


class TestAppendixB:
    def test_run_created_by_api_finishes_on_workers(
        self, admin_client: APIClient, document: dict, workers: Workers
    ) -> None:
        created = admin_client.post("/api/groups/", document, format="json")
        assert created.status_code == status.HTTP_201_CREATED
        workers.start(workers=2, SPINE_PIPELINE_MODULES=PIPELINE_MODULES)

        response = admin_client.post(
            "/api/groups/finra.weekly_refresh/run", B1_BODY, format="json"
        )

        assert response.status_code == status.HTTP_202_ACCEPTED
        b1 = response.json()
        assert b1["status"] == "pending"
        assert b1["trigger_source"] == "api"
        assert [step["step_name"] for step in b1["steps"]] == [
            "ingest",
            "normalize",
            "aggregate",
            "rolling",
        ]

        b2 = poll_until_finished(admin_client, b1["id"], workers)

        assert b2["status"] == "completed", b2
        assert B2_FIELDS <= set(b2)
        assert b2["batch_id"] == b1["batch_id"]
        assert b2["duration_seconds"] > 0
        for step in b2["steps"]:
            assert B2_STEP_FIELDS <= set(step)
            assert step["status"] == "completed"
            assert step["execution_id"]
        ingest = admin_client.get(
            f"/api/executions/{b2['steps'][0]['execution_id']}/"
        ).json()
        assert ingest["batch_id"] == b1["batch_id"]
        assert ingest["worker"]
        assert [event["kind"] for event in ingest["events"]][-1] == "completed"
