"""Group runs through the API: run, list, show, cancel and retry (RFC appendix B)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from rest_framework import status
from rest_framework.test import APIClient

from pipeline_groups import engine
from pipeline_groups.models import (
    Backend,
    GroupRun,
    RunStatus,
    StepStatus,
    TriggerSource,
)
from tests.api.conftest import FINRA_RUN_PARAMS
from tests.factories import GroupDefinitionFactory, GroupRunFactory

RUN_URL = "/api/groups/finra.weekly_refresh/run"


def start(client: APIClient, params: dict | None = None) -> dict[str, Any]:
    """Start a weekly refresh run through the API and return its body."""
    response = client.post(RUN_URL, {"params": params or FINRA_RUN_PARAMS}, "json")
    assert response.status_code == status.HTTP_202_ACCEPTED, response.json()
    return response.json()


def finish(run_id: str) -> GroupRun:
    """Drive a run to its end in this process."""
    return engine.run_inline(GroupRun.objects.get(pk=run_id))


@pytest.fixture
def failing_group(admin_client: APIClient, document: dict) -> dict:
    """Create the weekly refresh with an `aggregate` step that always fails."""
    document["spec"]["pipelines"][2]["pipeline"] = "apitest.fail"
    response = admin_client.post("/api/groups/", document, format="json")
    assert response.status_code == status.HTTP_201_CREATED
    return response.json()


@pytest.mark.django_db
class TestRunGroup:
    def test_appendix_b1_answers_202_with_pending_steps(
        self, client_for: Any, weekly_group: dict
    ) -> None:
        runner = client_for("runner")

        response = runner.post(
            "/api/groups/finra.weekly_refresh/run",
            {"params": {"tier": "NMS_TIER_1", "week_ending": "2026-01-03"}},
            format="json",
        )

        assert response.status_code == status.HTTP_202_ACCEPTED
        body = response.json()
        assert response["Location"] == f"/api/groups/runs/{body['id']}/"
        assert body["group_name"] == "finra.weekly_refresh"
        assert body["status"] == "pending"
        assert body["trigger_source"] == "api"
        assert body["batch_id"].startswith("group_finra.weekly_refresh_")
        assert [
            (step["step_name"], step["status"], step["execution_id"])
            for step in body["steps"]
        ] == [
            ("ingest", "pending", None),
            ("normalize", "pending", None),
            ("aggregate", "pending", None),
            ("rolling", "pending", None),
        ]
        run = GroupRun.objects.get(pk=body["id"])
        assert run.created_by == "runner"
        assert run.trigger_source == TriggerSource.API
        assert run.backend == Backend.DJANGO_Q
        assert run.params == FINRA_RUN_PARAMS

    def test_final_slash_and_empty_body_are_accepted(
        self, admin_client: APIClient, document: dict
    ) -> None:
        document["spec"]["defaults"] = {"tier": "T1", "week_ending": "2026-01-03"}
        admin_client.post("/api/groups/", document, format="json")

        response = admin_client.post(RUN_URL + "/", {}, format="json")

        assert response.status_code == status.HTTP_202_ACCEPTED
        assert response.json()["params"] == {}

    def test_params_that_are_not_a_mapping_are_a_400(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        response = admin_client.post(RUN_URL, {"params": "tier"}, format="json")

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert response.json()["errors"][0]["path"] == "params"
        assert not GroupRun.objects.exists()

    def test_unknown_body_key_is_a_400_naming_it(
        self, admin_client: APIClient, document: dict
    ) -> None:
        document["spec"]["defaults"] = {"tier": "T1", "week_ending": "2026-01-03"}
        admin_client.post("/api/groups/", document, format="json")

        response = admin_client.post(
            RUN_URL, {"parmas": {"tier": "NMS_TIER_2"}}, format="json"
        )

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert response.json()["errors"] == [
            {
                "path": "parmas",
                "message": "unknown field; the body takes only `params`",
                "line": None,
            }
        ]
        assert not GroupRun.objects.exists()

    def test_yaml_body_is_a_415(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        response = admin_client.post(
            RUN_URL, "params: {}\n", content_type="application/yaml"
        )

        assert response.status_code == status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
        assert response.json()["code"] == "unsupported_media_type"

    def test_missing_run_param_names_step_and_parameter(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        response = admin_client.post(
            RUN_URL, {"params": {"tier": "NMS_TIER_1"}}, format="json"
        )

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        body = response.json()
        assert body["step"] == "ingest"
        assert body["parameter"] == "week_ending"
        assert "week_ending" in body["detail"]
        assert not GroupRun.objects.exists()

    def test_unknown_group_is_a_404(self, admin_client: APIClient) -> None:
        response = admin_client.post(
            "/api/groups/no.group/run", {"params": {}}, format="json"
        )

        assert response.status_code == status.HTTP_404_NOT_FOUND
        assert response.json()["code"] == "group_not_found"

    def test_inactive_group_is_a_409(self, admin_client: APIClient) -> None:
        GroupDefinitionFactory(name="old.group", is_active=False)

        response = admin_client.post(
            "/api/groups/old.group/run", {"params": FINRA_RUN_PARAMS}, format="json"
        )

        assert response.status_code == status.HTTP_409_CONFLICT
        assert response.json()["code"] == "group_inactive"


@pytest.mark.django_db
class TestRunList:
    def test_newest_first_with_summary_fields(self, admin_client: APIClient) -> None:
        older = GroupRunFactory(created_at=timezone.now() - dt.timedelta(hours=1))
        newer = GroupRunFactory()

        response = admin_client.get("/api/groups/runs/")

        body = response.json()
        assert response.status_code == status.HTTP_200_OK
        assert [run["id"] for run in body["results"]] == [newer.id, older.id]
        first = body["results"][0]
        assert {
            "id",
            "group_name",
            "status",
            "trigger_source",
            "started_at",
            "completed_at",
            "duration_seconds",
        } <= set(first)
        assert first["step_counts"] == {"pending": 2}

    def test_filters_by_group_status_and_created_range(
        self, admin_client: APIClient
    ) -> None:
        now = timezone.now()
        old = GroupRunFactory(created_at=now - dt.timedelta(days=3))
        failed = GroupRunFactory(status=RunStatus.FAILED, group=old.group)
        GroupRunFactory()

        by_group = admin_client.get(f"/api/groups/runs?group_name={old.group_name}")
        by_status = admin_client.get("/api/groups/runs?status=failed")
        since = (now - dt.timedelta(days=1)).isoformat()
        recent = admin_client.get(
            "/api/groups/runs/", {"created_after": since, "group_name": old.group_name}
        )

        assert {r["id"] for r in by_group.json()["results"]} == {old.id, failed.id}
        assert [r["id"] for r in by_status.json()["results"]] == [failed.id]
        assert [r["id"] for r in recent.json()["results"]] == [failed.id]

    def test_unknown_status_is_a_400(self, admin_client: APIClient) -> None:
        response = admin_client.get("/api/groups/runs/?status=sleeping")

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert response.json()["errors"][0]["path"] == "status"

    def test_default_page_is_the_fifty_newest(self, admin_client: APIClient) -> None:
        group = GroupDefinitionFactory()
        now = timezone.now()
        runs = GroupRun.objects.bulk_create(
            [
                GroupRunFactory.build(
                    group=group, created_at=now - dt.timedelta(minutes=number)
                )
                for number in range(60)
            ]
        )

        body = admin_client.get("/api/groups/runs/").json()

        assert body["count"] == 60
        assert [run["id"] for run in body["results"]] == [r.id for r in runs[:50]]
        assert "limit=50" in body["next"]

    def test_limit_pages_the_list(self, admin_client: APIClient) -> None:
        GroupRunFactory.create_batch(3)

        body = admin_client.get("/api/groups/runs/?limit=2").json()

        assert body["count"] == 3
        assert len(body["results"]) == 2
        assert "offset=2" in body["next"]


@pytest.mark.django_db(transaction=True)
class TestRunDetail:
    def test_appendix_b2_shows_steps_with_executions_and_timing(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        run_id = start(admin_client)["id"]
        finish(run_id)

        response = admin_client.get(f"/api/groups/runs/{run_id}")

        assert response.status_code == status.HTTP_200_OK
        body = response.json()
        assert body["status"] == "completed"
        assert body["group_version"] == 1
        assert body["params"] == FINRA_RUN_PARAMS
        assert body["error"] is None
        assert body["duration_seconds"] >= 0
        assert body["started_at"] and body["completed_at"]
        for step in body["steps"]:
            assert step["status"] == "completed"
            assert step["execution_id"]
            assert step["started_at"] and step["completed_at"]
            assert step["error"] is None
        assert body["steps"][0]["pipeline_name"] == "apitest.ingest_week"
        assert body["steps"][1]["depends_on"] == ["ingest"]

    def test_pending_step_says_what_it_waits_for(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        run_id = start(admin_client)["id"]

        body = admin_client.get(f"/api/groups/runs/{run_id}/").json()

        assert body["steps"][1]["reason"] == "waiting for ingest"
        assert body["steps"][0]["param_sources"]["source_type"] == "step"

    def test_unknown_run_is_a_404(self, admin_client: APIClient) -> None:
        response = admin_client.get("/api/groups/runs/01NOSUCHRUN/")

        assert response.status_code == status.HTTP_404_NOT_FOUND
        assert response.json()["detail"] == "Group run '01NOSUCHRUN' does not exist"


@pytest.mark.django_db(transaction=True)
class TestCancelAndRetry:
    def test_cancel_pending_run_answers_202_cancelled(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        run_id = start(admin_client)["id"]

        response = admin_client.post(f"/api/groups/runs/{run_id}/cancel")

        assert response.status_code == status.HTTP_202_ACCEPTED
        body = response.json()
        assert body["status"] == "cancelled"
        assert {step["status"] for step in body["steps"]} == {"cancelled"}
        assert body["cancel_requested_at"] is not None

    def test_cancel_finished_run_is_a_409(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        run_id = start(admin_client)["id"]
        finish(run_id)

        response = admin_client.post(f"/api/groups/runs/{run_id}/cancel/")

        assert response.status_code == status.HTTP_409_CONFLICT
        assert response.json()["code"] == "run_finished"

    def test_retry_completed_run_is_a_409(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        run_id = start(admin_client)["id"]
        finish(run_id)

        response = admin_client.post(f"/api/groups/runs/{run_id}/retry")

        assert response.status_code == status.HTTP_409_CONFLICT
        assert "completed" in response.json()["detail"]

    def test_retry_pending_run_is_a_409(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        run_id = start(admin_client)["id"]

        response = admin_client.post(f"/api/groups/runs/{run_id}/retry")

        assert response.status_code == status.HTTP_409_CONFLICT
        assert response.json()["code"] == "run_not_retryable"

    def test_retry_running_run_is_a_409(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        run_id = start(admin_client)["id"]
        engine.advance_run(run_id)
        assert GroupRun.objects.get(pk=run_id).status == RunStatus.RUNNING

        response = admin_client.post(f"/api/groups/runs/{run_id}/retry")

        assert response.status_code == status.HTTP_409_CONFLICT
        assert response.json()["code"] == "run_not_retryable"
        assert "has not finished" in response.json()["detail"]

    def test_cancel_running_run_answers_202(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        run_id = start(admin_client)["id"]
        engine.advance_run(run_id)

        response = admin_client.post(f"/api/groups/runs/{run_id}/cancel")

        assert response.status_code == status.HTTP_202_ACCEPTED
        assert response.json()["cancel_requested_at"] is not None
        assert response.json()["status"] in {"running", "cancelled"}

    def test_cancel_failed_run_is_a_409(
        self, admin_client: APIClient, failing_group: dict
    ) -> None:
        run_id = start(admin_client)["id"]
        assert finish(run_id).status == RunStatus.FAILED

        response = admin_client.post(f"/api/groups/runs/{run_id}/cancel")

        assert response.status_code == status.HTTP_409_CONFLICT
        assert "failed" in response.json()["detail"]

    def test_cancel_cancelled_run_is_a_409(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        run_id = start(admin_client)["id"]
        admin_client.post(f"/api/groups/runs/{run_id}/cancel")

        response = admin_client.post(f"/api/groups/runs/{run_id}/cancel")

        assert response.status_code == status.HTTP_409_CONFLICT
        assert response.json()["code"] == "run_finished"

    def test_retry_failed_run_reruns_only_unsuccessful_steps(
        self, admin_client: APIClient, failing_group: dict
    ) -> None:
        run_id = start(admin_client)["id"]
        assert finish(run_id).status == RunStatus.FAILED

        response = admin_client.post(f"/api/groups/runs/{run_id}/retry/")

        assert response.status_code == status.HTTP_202_ACCEPTED
        steps = {step["step_name"]: step for step in response.json()["steps"]}
        assert steps["ingest"]["status"] == StepStatus.COMPLETED
        assert steps["normalize"]["status"] == StepStatus.COMPLETED
        assert steps["aggregate"]["status"] == StepStatus.PENDING
        assert steps["aggregate"]["attempt"] in {1, 2}
        assert response.json()["status"] in {"pending", "running"}

    def test_unknown_run_is_a_404_for_both(self, admin_client: APIClient) -> None:
        cancel = admin_client.post("/api/groups/runs/01NOSUCHRUN/cancel")
        retry = admin_client.post("/api/groups/runs/01NOSUCHRUN/retry")

        assert cancel.status_code == status.HTTP_404_NOT_FOUND
        assert retry.status_code == status.HTTP_404_NOT_FOUND
