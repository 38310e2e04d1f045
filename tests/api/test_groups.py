"""Groups through the API: list, show (JSON and YAML), create, update, delete, plan."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from rest_framework import status
from rest_framework.test import APIClient

from pipeline_groups import storage
from pipeline_groups.cli.definitions import validate_file
from pipeline_groups.exceptions import GroupSpecError
from pipeline_groups.models import GroupDefinition, GroupVersion
from pipeline_groups.yaml_spec import load_group_yaml, validate_document
from tests.api import volume
from tests.factories import GroupDefinitionFactory

pytestmark = pytest.mark.django_db


class TestGroupList:
    def test_lists_active_groups_as_summaries(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        GroupDefinitionFactory(name="old.group", is_active=False)

        response = admin_client.get("/api/groups/")

        assert response.status_code == status.HTTP_200_OK
        body = response.json()
        assert body["count"] == 1
        assert set(body) == {"count", "next", "previous", "results"}
        assert body["results"][0] == {
            "name": "finra.weekly_refresh",
            "domain": "finra.otc_transparency",
            "version": 1,
            "description": "Full weekly refresh for FINRA OTC transparency data.\n",
            "step_count": 4,
            "is_active": True,
            "tags": [],
        }

    def test_active_only_false_shows_inactive_groups(
        self, admin_client: APIClient
    ) -> None:
        GroupDefinitionFactory(name="old.group", is_active=False)
        GroupDefinitionFactory(name="new.group")

        response = admin_client.get("/api/groups/?active_only=false")

        names = [group["name"] for group in response.json()["results"]]
        assert names == ["new.group", "old.group"]

    def test_filters_by_domain_and_search(self, admin_client: APIClient) -> None:
        GroupDefinitionFactory(name="a.one", domain="market_data", description="prices")
        GroupDefinitionFactory(name="b.two", domain="finra", description="weekly OTC")

        by_domain = admin_client.get("/api/groups?domain=market_data").json()
        by_text = admin_client.get("/api/groups?search=otc").json()

        assert [g["name"] for g in by_domain["results"]] == ["a.one"]
        assert [g["name"] for g in by_text["results"]] == ["b.two"]

    def test_invalid_filter_value_is_a_400_naming_it(
        self, admin_client: APIClient
    ) -> None:
        response = admin_client.get("/api/groups/?active_only=perhaps")

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert response.json()["errors"][0]["path"] == "active_only"

    def test_offset_pages_on(self, admin_client: APIClient) -> None:
        GroupDefinitionFactory.create_batch(3)

        body = admin_client.get("/api/groups/?limit=2&offset=2").json()

        assert body["count"] == 3
        assert len(body["results"]) == 1
        assert body["previous"] is not None
        assert body["next"] is None


class TestGroupPagination:
    @pytest.fixture
    def many(self) -> None:
        """501 active groups: one more than the largest page."""
        volume.many_groups(500)

    def test_default_page_is_fifty(self, admin_client: APIClient, many: None) -> None:
        body = admin_client.get("/api/groups/").json()

        assert body["count"] == 501
        assert len(body["results"]) == 50
        assert "limit=50" in body["next"]
        assert "offset=50" in body["next"]

    def test_limit_above_500_is_lowered_to_500(
        self, admin_client: APIClient, many: None
    ) -> None:
        body = admin_client.get("/api/groups/?limit=100000").json()

        assert len(body["results"]) == 500
        assert "limit=500" in body["next"]
        assert "offset=500" in body["next"]


class TestGroupDetail:
    def test_shows_document_steps_and_timestamps(
        self, admin_client: APIClient, weekly_group: dict, document: dict
    ) -> None:
        response = admin_client.get("/api/groups/finra.weekly_refresh/")

        body = response.json()
        assert response.status_code == status.HTTP_200_OK
        assert body["spec"]["apiVersion"] == "spine.io/v1"
        assert body["spec"]["kind"] == "PipelineGroup"
        assert body["spec"]["spec"]["pipelines"][0]["name"] == "ingest"
        assert body["steps"][1] == {
            "name": "normalize",
            "pipeline": "apitest.transform_week",
            "depends_on": ["ingest"],
            "params": {},
        }
        assert {"created_at", "updated_at", "created_by"} <= set(body)
        assert body["created_by"] == "admin"

    def test_final_slash_is_optional(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        response = admin_client.get("/api/groups/finra.weekly_refresh")

        assert response.status_code == status.HTTP_200_OK
        assert response.json()["name"] == "finra.weekly_refresh"

    def test_served_as_yaml_on_request(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        response = admin_client.get(
            "/api/groups/finra.weekly_refresh/", HTTP_ACCEPT="application/yaml"
        )

        assert response.status_code == status.HTTP_200_OK
        assert response["Content-Type"].startswith("application/yaml")
        group = load_group_yaml(response.content.decode())
        assert group.name == "finra.weekly_refresh"
        assert [step.name for step in group.steps] == [
            "ingest",
            "normalize",
            "aggregate",
            "rolling",
        ]

    def test_inactive_group_can_be_read(self, admin_client: APIClient) -> None:
        GroupDefinitionFactory(name="old.group", is_active=False)

        response = admin_client.get("/api/groups/old.group/")

        assert response.status_code == status.HTTP_200_OK
        assert response.json()["is_active"] is False

    def test_unknown_group_is_a_json_404(self, admin_client: APIClient) -> None:
        response = admin_client.get("/api/groups/no.such_group/")

        assert response.status_code == status.HTTP_404_NOT_FOUND
        assert response.json()["detail"] == "Group 'no.such_group' does not exist"
        assert response.json()["code"] == "group_not_found"

    def test_unknown_group_in_yaml_is_still_a_json_error(
        self, admin_client: APIClient
    ) -> None:
        response = admin_client.get(
            "/api/groups/no.such_group/", HTTP_ACCEPT="application/yaml"
        )

        assert response.status_code == status.HTTP_404_NOT_FOUND
        assert response["Content-Type"] == "application/json"


class TestGroupCreate:
    def test_json_document_creates_version_one(
        self, admin_client: APIClient, document: dict
    ) -> None:
        document["metadata"]["version"] = 7

        response = admin_client.post("/api/groups/", document, format="json")

        assert response.status_code == status.HTTP_201_CREATED
        assert response["Location"] == "/api/groups/finra.weekly_refresh/"
        assert response.json()["version"] == 1
        group = GroupDefinition.objects.get(name="finra.weekly_refresh")
        assert group.versions.count() == 1

    def test_yaml_document_creates_the_group(
        self, admin_client: APIClient, document: dict
    ) -> None:
        text = yaml.safe_dump(document, sort_keys=False)

        response = admin_client.post(
            "/api/groups", text, content_type="application/yaml"
        )

        assert response.status_code == status.HTTP_201_CREATED
        assert response.json()["step_count"] == 4

    def test_invalid_yaml_reports_the_loaders_paths_and_lines(
        self, admin_client: APIClient
    ) -> None:
        text = (
            "apiVersion: spine.io/v1\n"
            "kind: PipelineGroup\n"
            "metadata:\n"
            "  name: finra.broken\n"
            "spec:\n"
            "  pipelines:\n"
            "    - name: ingest\n"
            "      pipeline: apitest.ingest_week\n"
            "      depends_on: [nowhere]\n"
            "      retries: 3\n"
        )
        with pytest.raises(GroupSpecError) as expected:
            load_group_yaml(text, source="request body")

        response = admin_client.post(
            "/api/groups/", text, content_type="application/yaml"
        )

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        body = response.json()
        assert body["code"] == "group_spec"
        assert body["errors"] == [
            {"path": issue.path, "message": issue.message, "line": issue.line}
            for issue in expected.value.issues
        ]
        assert {"spec.pipelines[0].depends_on[0]", "spec.pipelines[0].retries"} <= {
            error["path"] for error in body["errors"]
        }

    def test_invalid_json_document_lists_every_problem(
        self, admin_client: APIClient, document: dict
    ) -> None:
        document["spec"]["policy"]["execution"] = "sideways"
        del document["spec"]["pipelines"][0]["pipeline"]

        response = admin_client.post("/api/groups/", document, format="json")

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        paths = [error["path"] for error in response.json()["errors"]]
        assert "spec.pipelines[0].pipeline" in paths
        assert "spec.policy.execution" in paths

    def test_json_errors_are_those_of_the_file_loader(
        self, admin_client: APIClient, document: dict
    ) -> None:
        document["spec"]["policy"]["max_concurrency"] = 0
        document["spec"]["pipelines"][1]["depends_on"] = "ingest"
        document["metadata"]["owner"] = "ops"
        with pytest.raises(GroupSpecError) as expected:
            validate_document(copy.deepcopy(document), source="request body")

        response = admin_client.post("/api/groups/", document, format="json")

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert response.json()["errors"] == [
            {"path": issue.path, "message": issue.message, "line": issue.line}
            for issue in expected.value.issues
        ]

    def test_every_plan_problem_is_listed_as_groups_validate_lists_it(
        self, admin_client: APIClient, tmp_path: Any
    ) -> None:
        text = (
            "apiVersion: spine.io/v1\n"
            "kind: PipelineGroup\n"
            "metadata:\n"
            "  name: finra.typos\n"
            "spec:\n"
            "  defaults:\n"
            "    tier: T1\n"
            "    week_ending: '2026-01-03'\n"
            "  pipelines:\n"
            "    - name: ingest\n"
            "      pipeline: apitest.ingest_wek\n"
            "    - name: normalize\n"
            "      pipeline: apitest.transform_week\n"
            "      depends_on: [ingest]\n"
            "      params:\n"
            "        colour: blue\n"
        )
        path = tmp_path / "typos.yaml"
        path.write_text(text)
        expected = validate_file(path)

        response = admin_client.post(
            "/api/groups/", text, content_type="application/yaml"
        )

        body = response.json()
        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert len(expected) == 2
        assert body["errors"] == [
            {"path": issue.path, "message": issue.message, "line": issue.line}
            for issue in expected
        ]
        assert [error["path"] for error in body["errors"]] == [
            "spec.pipelines[0].pipeline",
            "spec.pipelines[1].params.colour",
        ]
        assert body["code"] == "unknown_pipeline"
        assert body["step"] == "ingest"
        assert not GroupDefinition.objects.filter(name="finra.typos").exists()

    def test_unknown_pipeline_in_a_spec_is_a_400_naming_the_step(
        self, admin_client: APIClient, document: dict
    ) -> None:
        document["spec"]["pipelines"][1]["pipeline"] = "apitest.transform_wek"

        response = admin_client.post("/api/groups/", document, format="json")

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        body = response.json()
        assert body["code"] == "unknown_pipeline"
        assert body["step"] == "normalize"
        assert "apitest.transform_week" in body["detail"]

    def test_cycle_is_a_400_naming_the_cycle(
        self, admin_client: APIClient, document: dict
    ) -> None:
        document["spec"]["pipelines"][0]["depends_on"] = ["rolling"]

        response = admin_client.post("/api/groups/", document, format="json")

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert "->" in response.json()["detail"]

    def test_body_that_is_not_a_mapping_is_a_400(self, admin_client: APIClient) -> None:
        response = admin_client.post("/api/groups/", [1, 2], format="json")

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert response.json()["code"] in {"invalid_document", "group_spec"}

    def test_malformed_json_is_a_400(self, admin_client: APIClient) -> None:
        response = admin_client.post(
            "/api/groups/", "{not json", content_type="application/json"
        )

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert response.json()["code"] == "parse_error"

    def test_existing_name_is_a_409(
        self, admin_client: APIClient, weekly_group: dict, document: dict
    ) -> None:
        response = admin_client.post("/api/groups/", document, format="json")

        assert response.status_code == status.HTTP_409_CONFLICT
        assert response.json()["code"] == "group_exists"

    def test_unsupported_content_type_is_a_415(self, admin_client: APIClient) -> None:
        response = admin_client.post(
            "/api/groups/", "name=x", content_type="text/plain"
        )

        assert response.status_code == status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
        assert response.json()["code"] == "unsupported_media_type"


class TestGroupUpdate:
    def test_changed_document_makes_a_new_version(
        self, admin_client: APIClient, weekly_group: dict, document: dict
    ) -> None:
        document["spec"]["policy"]["max_concurrency"] = 3

        response = admin_client.put(
            "/api/groups/finra.weekly_refresh/", document, format="json"
        )

        assert response.status_code == status.HTTP_200_OK
        assert response.json()["version"] == 2
        assert response.json()["spec"]["spec"]["policy"]["max_concurrency"] == 3
        versions = GroupVersion.objects.filter(group__name="finra.weekly_refresh")
        assert sorted(versions.values_list("version", flat=True)) == [1, 2]

    def test_yaml_update_without_final_slash(
        self, admin_client: APIClient, weekly_group: dict, document: dict
    ) -> None:
        document["metadata"]["description"] = "Changed."

        response = admin_client.put(
            "/api/groups/finra.weekly_refresh",
            yaml.safe_dump(document),
            content_type="application/yaml",
        )

        assert response.status_code == status.HTTP_200_OK
        assert response.json()["description"] == "Changed."

    def test_unchanged_document_keeps_its_version(
        self, admin_client: APIClient, weekly_group: dict, document: dict
    ) -> None:
        document["metadata"]["version"] = 9

        response = admin_client.put(
            "/api/groups/finra.weekly_refresh/", document, format="json"
        )

        assert response.status_code == status.HTTP_200_OK
        assert response.json()["version"] == 1
        assert GroupVersion.objects.count() == 1

    def test_invalid_document_is_a_400_and_keeps_the_group(
        self, admin_client: APIClient, weekly_group: dict, document: dict
    ) -> None:
        document["spec"]["pipelines"][1]["depends_on"] = ["nowhere"]

        response = admin_client.put(
            "/api/groups/finra.weekly_refresh/", document, format="json"
        )

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert response.json()["errors"][0]["path"] == "spec.pipelines[1].depends_on[0]"
        assert GroupDefinition.objects.get(name="finra.weekly_refresh").version == 1

    def test_unsupported_content_type_is_a_415(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        response = admin_client.put(
            "/api/groups/finra.weekly_refresh/", "x", content_type="text/csv"
        )

        assert response.status_code == status.HTTP_415_UNSUPPORTED_MEDIA_TYPE

    def test_name_in_body_must_match_the_path(
        self, admin_client: APIClient, weekly_group: dict, document: dict
    ) -> None:
        document["metadata"]["name"] = "finra.other"

        response = admin_client.put(
            "/api/groups/finra.weekly_refresh/", document, format="json"
        )

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert response.json()["errors"][0]["path"] == "metadata.name"

    def test_unknown_group_is_a_404(
        self, admin_client: APIClient, document: dict
    ) -> None:
        response = admin_client.put(
            "/api/groups/finra.weekly_refresh/", document, format="json"
        )

        assert response.status_code == status.HTTP_404_NOT_FOUND

    def test_patch_is_not_allowed(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        response = admin_client.patch(
            "/api/groups/finra.weekly_refresh/", {}, format="json"
        )

        assert response.status_code == status.HTTP_405_METHOD_NOT_ALLOWED
        assert response.json()["code"] == "method_not_allowed"


class TestGroupDelete:
    def test_delete_deactivates(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        response = admin_client.delete("/api/groups/finra.weekly_refresh/")

        assert response.status_code == status.HTTP_204_NO_CONTENT
        group = GroupDefinition.objects.get(name="finra.weekly_refresh")
        assert group.is_active is False

    def test_deactivated_group_leaves_the_list_and_stays_readable(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        admin_client.delete("/api/groups/finra.weekly_refresh")

        listed = admin_client.get("/api/groups/").json()
        everything = admin_client.get("/api/groups/?active_only=false").json()
        detail = admin_client.get("/api/groups/finra.weekly_refresh/")

        assert listed["count"] == 0
        assert [group["name"] for group in everything["results"]] == [
            "finra.weekly_refresh"
        ]
        assert detail.json()["is_active"] is False

    def test_unknown_group_is_a_404(self, admin_client: APIClient) -> None:
        response = admin_client.delete("/api/groups/no.group")

        assert response.status_code == status.HTTP_404_NOT_FOUND


class TestYamlStorageMode:
    @pytest.fixture(autouse=True)
    def yaml_mode(self, settings: Any, tmp_path: Any) -> Iterator[None]:
        settings.SPINE_GROUP_STORAGE = "yaml"
        settings.SPINE_GROUPS_PATH = tmp_path
        storage.reset_sync()
        yield
        storage.reset_sync()

    def test_create_is_a_409_saying_why(
        self, admin_client: APIClient, document: dict
    ) -> None:
        response = admin_client.post("/api/groups/", document, format="json")

        assert response.status_code == status.HTTP_409_CONFLICT
        body = response.json()
        assert body["code"] == "group_storage_read_only"
        assert "SPINE_GROUP_STORAGE is 'yaml'" in body["detail"]

    def test_update_and_delete_are_409(
        self, admin_client: APIClient, document: dict
    ) -> None:
        GroupDefinitionFactory(name="finra.weekly_refresh")

        put = admin_client.put(
            "/api/groups/finra.weekly_refresh/", document, format="json"
        )
        delete = admin_client.delete("/api/groups/finra.weekly_refresh/")

        assert put.status_code == status.HTTP_409_CONFLICT
        assert delete.status_code == status.HTTP_409_CONFLICT
        assert GroupDefinition.objects.get(name="finra.weekly_refresh").is_active


class TestGroupPlan:
    def test_resolves_the_plan_without_running(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        response = admin_client.get(
            "/api/groups/finra.weekly_refresh/plan"
            "?tier=NMS_TIER_1&week_ending=2026-01-03"
        )

        assert response.status_code == status.HTTP_200_OK
        plan = response.json()
        assert [step["step_name"] for step in plan["steps"]] == [
            "ingest",
            "normalize",
            "aggregate",
            "rolling",
        ]
        assert plan["steps"][0]["params"] == {
            "tier": "NMS_TIER_1",
            "week_ending": "2026-01-03",
            "source_type": "api",
        }
        assert plan["steps"][0]["param_sources"]["source_type"] == "step"
        assert not GroupDefinition.objects.get().runs.exists()

    def test_missing_run_param_names_step_and_parameter(
        self, admin_client: APIClient, weekly_group: dict
    ) -> None:
        response = admin_client.get(
            "/api/groups/finra.weekly_refresh/plan/?tier=NMS_TIER_1"
        )

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        body = response.json()
        assert body["code"] == "missing_run_parameter"
        assert body["step"] == "ingest"
        assert body["parameter"] == "week_ending"
        assert body["errors"][0]["path"] == "params.week_ending"

    def test_unknown_group_is_a_404(self, admin_client: APIClient) -> None:
        response = admin_client.get("/api/groups/no.group/plan")

        assert response.status_code == status.HTTP_404_NOT_FOUND


def test_weekly_document_is_valid_for_the_loader(document: dict) -> None:
    copy.deepcopy(document)
    assert load_group_yaml(yaml.safe_dump(document)).name == "finra.weekly_refresh"
