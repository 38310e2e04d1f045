"""The OpenAPI schema validates, and its two viewers are served offline."""

from __future__ import annotations

from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from rest_framework import status
from rest_framework.test import APIClient

from pipeline_groups.models import GroupDefinition
from tests.factories import (
    DeadLetterFactory,
    ExecutionFactory,
    GroupDefinitionFactory,
    GroupRunFactory,
)

pytestmark = pytest.mark.django_db

DOCUMENTED_PATHS = {
    "/api/groups/",
    "/api/groups/{name}/",
    "/api/groups/{name}/run/",
    "/api/groups/{name}/plan/",
    "/api/groups/runs/",
    "/api/groups/runs/{id}/",
    "/api/groups/runs/{id}/cancel/",
    "/api/groups/runs/{id}/retry/",
    "/api/pipelines/",
    "/api/pipelines/{name}/",
    "/api/pipelines/{name}/run/",
    "/api/executions/",
    "/api/executions/{id}/",
    "/api/dead-letters/",
    "/api/dead-letters/{id}/",
    "/api/dead-letters/{id}/replay/",
}


class TestOpenApiSchema:
    def test_spectacular_validates_without_warnings(self) -> None:
        out = StringIO()

        call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)

        schema = yaml.safe_load(out.getvalue())
        assert schema["openapi"].startswith("3.")
        assert set(schema["paths"]) == DOCUMENTED_PATHS

    def test_every_operation_documents_its_errors(self) -> None:
        out = StringIO()
        call_command("spectacular", stdout=out)
        schema = yaml.safe_load(out.getvalue())

        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                codes = set(operation["responses"])
                assert {"401", "403"} <= codes, (method, path)
                if "{" in path:
                    assert "404" in codes, (method, path)

    def test_group_detail_documents_rfc_fields(self) -> None:
        out = StringIO()
        call_command("spectacular", stdout=out)
        components = yaml.safe_load(out.getvalue())["components"]["schemas"]

        assert {
            "name",
            "domain",
            "version",
            "description",
            "step_count",
            "is_active",
            "spec",
            "created_at",
            "updated_at",
            "steps",
        } <= set(components["GroupDetail"]["properties"])
        assert {
            "step_name",
            "pipeline_name",
            "execution_id",
            "status",
            "started_at",
            "completed_at",
            "error",
        } <= set(components["StepStatus"]["properties"])
        assert {
            "group_version",
            "params",
            "batch_id",
            "steps",
            "error",
            "duration_seconds",
        } <= set(components["GroupRunDetail"]["properties"])

    def test_schema_is_served(self) -> None:
        response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json")

        assert response.status_code == status.HTTP_200_OK
        assert "/api/groups/runs/{id}/cancel/" in response.json()["paths"]


class TestDocumentationPages:
    @pytest.mark.parametrize(
        ("path", "asset"),
        [
            ("/api/docs/", "drf_spectacular_sidecar/swagger-ui-dist/"),
            ("/api/redoc/", "drf_spectacular_sidecar/redoc/"),
        ],
    )
    def test_page_loads_its_assets_from_this_server(
        self, path: str, asset: str
    ) -> None:
        response = APIClient().get(path)

        html = response.content.decode()
        assert response.status_code == status.HTTP_200_OK
        assert f"/static/{asset}" in html
        assert "cdn.jsdelivr.net" not in html
        assert "unpkg.com" not in html


class TestBrowsableApi:
    @pytest.mark.parametrize(
        "path",
        [
            "/api/",
            "/api/groups/",
            "/api/groups/runs/",
            "/api/pipelines/",
            "/api/executions/",
            "/api/dead-letters/",
        ],
    )
    def test_lists_render_as_html(self, admin_client: APIClient, path: str) -> None:
        response = admin_client.get(path, HTTP_ACCEPT="text/html")

        assert response.status_code == status.HTTP_200_OK
        assert response["Content-Type"].startswith("text/html")


class TestBrowsableApiOnDetails:
    @pytest.mark.parametrize(
        "template",
        [
            "/api/groups/{group}/",
            "/api/groups/{group}/plan?tier=T1&week_ending=2026-01-03",
            "/api/groups/runs/{run}/",
            "/api/pipelines/apitest.fail/",
            "/api/executions/{execution}/",
            "/api/dead-letters/{letter}/",
        ],
    )
    def test_details_render_as_html(
        self, admin_client: APIClient, template: str, weekly_group: dict
    ) -> None:
        group = GroupDefinition.objects.get(name=weekly_group["name"])
        objects = {
            "group": group.name,
            "run": GroupRunFactory(group=group).id,
            "execution": ExecutionFactory().id,
            "letter": DeadLetterFactory().id,
        }

        response = admin_client.get(template.format(**objects), HTTP_ACCEPT="text/html")

        assert response.status_code == status.HTTP_200_OK
        assert response["Content-Type"].startswith("text/html")

    @pytest.mark.parametrize(
        "path",
        [
            "/api/groups/finra.weekly_refresh/run",
            "/api/pipelines/apitest.fail/run",
            "/api/groups/runs/01NOSUCHRUN/cancel",
        ],
    )
    def test_post_only_actions_render_a_page_with_a_form(
        self, admin_client: APIClient, path: str
    ) -> None:
        GroupDefinitionFactory(name="finra.weekly_refresh")

        response = admin_client.get(path, HTTP_ACCEPT="text/html")

        assert response.status_code == status.HTTP_405_METHOD_NOT_ALLOWED
        assert response["Content-Type"].startswith("text/html")
        assert "<form" in response.content.decode()
