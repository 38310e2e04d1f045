"""Pipelines, executions and the dead-letter queue through the API."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework import status
from rest_framework.test import APIClient

from pipeline_groups import engine
from pipeline_groups.models import (
    DeadLetter,
    EventKind,
    Execution,
    ExecutionStatus,
    GroupRun,
    RunStatus,
)
from tests.api.conftest import FINRA_RUN_PARAMS
from tests.factories import DeadLetterFactory, ExecutionEventFactory, ExecutionFactory


@pytest.mark.django_db
class TestPipelines:
    def test_registry_is_paginated_with_parameters(
        self, admin_client: APIClient
    ) -> None:
        response = admin_client.get("/api/pipelines/?limit=500")

        body = response.json()
        assert response.status_code == status.HTTP_200_OK
        assert set(body) == {"count", "next", "previous", "results"}
        ingest = next(p for p in body["results"] if p["name"] == "apitest.ingest_week")
        assert ingest["logical_key"] == "apitest:{tier}:{week_ending}"
        assert ingest["parameters"] == [
            {"name": "tier", "required": True, "default": None},
            {"name": "week_ending", "required": True, "default": None},
            {"name": "source_type", "required": False, "default": "file"},
        ]

    def test_shows_one_dotted_pipeline(self, admin_client: APIClient) -> None:
        response = admin_client.get("/api/pipelines/apitest.fail")

        assert response.status_code == status.HTTP_200_OK
        assert response.json()["accepts_any"] is True

    def test_unknown_pipeline_is_a_404_with_suggestions(
        self, admin_client: APIClient
    ) -> None:
        response = admin_client.get("/api/pipelines/apitest.ingest_wek/")

        assert response.status_code == status.HTTP_404_NOT_FOUND
        assert "apitest.ingest_week" in response.json()["detail"]


@pytest.mark.django_db(transaction=True)
class TestPipelineRun:
    def test_run_answers_202_with_the_queued_execution(self, client_for: Any) -> None:
        runner = client_for("runner")

        response = runner.post(
            "/api/pipelines/apitest.ingest_week/run",
            {"params": FINRA_RUN_PARAMS},
            format="json",
        )

        assert response.status_code == status.HTTP_202_ACCEPTED
        body = response.json()
        assert response["Location"] == f"/api/executions/{body['id']}/"
        assert body["pipeline_name"] == "apitest.ingest_week"
        assert body["trigger_source"] == "api"
        assert body["params"] == FINRA_RUN_PARAMS
        assert body["logical_key"] == "apitest:NMS_TIER_1:2026-01-03"
        assert body["group_run_id"] is None

    def test_unknown_pipeline_is_a_404(self, admin_client: APIClient) -> None:
        response = admin_client.post(
            "/api/pipelines/no.such_pipeline/run", {"params": {}}, format="json"
        )

        assert response.status_code == status.HTTP_404_NOT_FOUND
        assert response.json()["code"] == "pipeline_not_found"

    def test_unknown_body_key_is_a_400(self, admin_client: APIClient) -> None:
        response = admin_client.post(
            "/api/pipelines/apitest.fail/run", {"param": {}}, format="json"
        )

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert response.json()["errors"][0]["path"] == "param"
        assert not Execution.objects.exists()

    def test_yaml_body_is_a_415(self, admin_client: APIClient) -> None:
        response = admin_client.post(
            "/api/pipelines/apitest.fail/run",
            "params: {}\n",
            content_type="application/yaml",
        )

        assert response.status_code == status.HTTP_415_UNSUPPORTED_MEDIA_TYPE

    def test_missing_param_is_a_400_naming_it(self, admin_client: APIClient) -> None:
        response = admin_client.post(
            "/api/pipelines/apitest.ingest_week/run",
            {"params": {"tier": "T1"}},
            format="json",
        )

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        body = response.json()
        assert body["parameter"] == "week_ending"
        assert body["errors"][0]["path"] == "params.week_ending"
        assert not Execution.objects.exists()


@pytest.mark.django_db
class TestExecutions:
    def test_shows_execution_with_events(self, admin_client: APIClient) -> None:
        execution = ExecutionFactory(completed=True)
        ExecutionEventFactory(execution=execution, kind=EventKind.QUEUED)
        ExecutionEventFactory(execution=execution, kind=EventKind.COMPLETED)

        response = admin_client.get(f"/api/executions/{execution.id}")

        body = response.json()
        assert response.status_code == status.HTTP_200_OK
        for field in (
            "id",
            "pipeline_name",
            "params",
            "status",
            "trigger_source",
            "batch_id",
            "logical_key",
            "started_at",
            "completed_at",
            "error",
            "result",
            "events",
        ):
            assert field in body
        assert body["result"] == {"rows_read": 10, "rows_written": 10}
        assert [event["kind"] for event in body["events"]] == ["queued", "completed"]

    def test_list_filters_by_status(self, admin_client: APIClient) -> None:
        failed = ExecutionFactory(failed=True)
        ExecutionFactory()

        body = admin_client.get("/api/executions/?status=failed").json()

        assert [row["id"] for row in body["results"]] == [failed.id]

    def test_unknown_status_filter_is_a_400(self, admin_client: APIClient) -> None:
        response = admin_client.get("/api/executions/?status=sleeping")

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert response.json()["errors"][0]["path"] == "status"

    def test_unknown_execution_is_a_404(self, admin_client: APIClient) -> None:
        response = admin_client.get("/api/executions/01NOSUCHEXECUTION/")

        assert response.status_code == status.HTTP_404_NOT_FOUND
        assert response.json()["code"] == "execution_not_found"


@pytest.mark.django_db
class TestDeadLetterList:
    def test_lists_letters_with_their_fields(self, admin_client: APIClient) -> None:
        letter = DeadLetterFactory()

        body = admin_client.get("/api/dead-letters/").json()

        assert body["results"] == [
            {
                "id": letter.id,
                "execution": letter.execution_id,
                "pipeline_name": "finra.otc_transparency.ingest_week",
                "error": "ValueError: bad input",
                "created_at": body["results"][0]["created_at"],
                "replayed_at": None,
                "replay_execution": None,
                "group_run_id": None,
            }
        ]

    def test_replayed_filter(self, admin_client: APIClient) -> None:
        waiting = DeadLetterFactory()
        replayed = DeadLetterFactory()
        DeadLetter.objects.filter(pk=replayed.pk).update(
            replayed_at=replayed.created_at
        )

        waiting_ids = admin_client.get("/api/dead-letters?replayed=false").json()
        replayed_ids = admin_client.get("/api/dead-letters?replayed=true").json()

        assert [row["id"] for row in waiting_ids["results"]] == [waiting.id]
        assert [row["id"] for row in replayed_ids["results"]] == [replayed.id]

    def test_shows_one_letter(self, admin_client: APIClient) -> None:
        letter = DeadLetterFactory()

        response = admin_client.get(f"/api/dead-letters/{letter.id}")

        assert response.status_code == status.HTTP_200_OK
        assert response.json()["id"] == letter.id
        assert response.json()["execution"] == letter.execution_id

    def test_invalid_replayed_filter_is_a_400(self, admin_client: APIClient) -> None:
        response = admin_client.get("/api/dead-letters/?replayed=maybe")

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert response.json()["errors"][0]["path"] == "replayed"

    def test_unknown_letter_is_a_404(self, admin_client: APIClient) -> None:
        show = admin_client.get("/api/dead-letters/01NOSUCHLETTER/")
        replay = admin_client.post("/api/dead-letters/01NOSUCHLETTER/replay")

        assert show.status_code == status.HTTP_404_NOT_FOUND
        assert replay.status_code == status.HTTP_404_NOT_FOUND
        assert replay.json()["code"] == "dead_letter_not_found"


@pytest.mark.django_db(transaction=True)
class TestDeadLetterReplay:
    def test_replay_of_a_step_resumes_its_run(
        self, admin_client: APIClient, document: dict
    ) -> None:
        document["spec"]["pipelines"][2]["pipeline"] = "apitest.fail"
        admin_client.post("/api/groups/", document, format="json")
        body = admin_client.post(
            "/api/groups/finra.weekly_refresh/run",
            {"params": FINRA_RUN_PARAMS},
            format="json",
        ).json()
        run = engine.run_inline(GroupRun.objects.get(pk=body["id"]))
        assert run.status == RunStatus.FAILED
        letter = DeadLetter.objects.get()

        response = admin_client.post(f"/api/dead-letters/{letter.id}/replay/")

        assert response.status_code == status.HTTP_202_ACCEPTED
        result = response.json()
        assert result["execution"] is None
        assert result["run"]["id"] == run.id
        assert result["run"]["status"] in {"pending", "running"}
        assert result["dead_letter"]["replayed_at"] is not None
        assert result["dead_letter"]["group_run_id"] == run.id
        steps = {step["step_name"]: step for step in result["run"]["steps"]}
        assert steps["aggregate"]["status"] == "pending"

    def test_replay_of_a_lone_execution_creates_a_new_one(
        self, admin_client: APIClient
    ) -> None:
        letter = DeadLetterFactory(
            execution__pipeline_name="apitest.ingest_week",
            pipeline_name="apitest.ingest_week",
        )

        response = admin_client.post(f"/api/dead-letters/{letter.id}/replay")

        assert response.status_code == status.HTTP_202_ACCEPTED
        result = response.json()
        assert result["run"] is None
        assert result["execution"]["id"] != letter.execution_id
        assert result["execution"]["status"] in {
            ExecutionStatus.PENDING,
            ExecutionStatus.QUEUED,
        }
        assert result["dead_letter"]["replay_execution"] == result["execution"]["id"]

    def test_second_replay_is_a_409(self, admin_client: APIClient) -> None:
        letter = DeadLetterFactory(
            execution__pipeline_name="apitest.ingest_week",
            pipeline_name="apitest.ingest_week",
        )
        admin_client.post(f"/api/dead-letters/{letter.id}/replay")

        response = admin_client.post(f"/api/dead-letters/{letter.id}/replay")

        assert response.status_code == status.HTTP_409_CONFLICT
        assert response.json()["code"] == "dead_letter_replayed"
