"""The OpenAPI schema validates, and its two viewers are served offline."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from rest_framework import status
from rest_framework.test import APIClient

from pipeline_groups.models import GroupDefinition
from tests.api.conftest import ROUTES, call_route
from tests.api.rfc import ENUM_FIELDS, MODELS
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


def generated_schema() -> dict[str, Any]:
    """Return the schema as `manage.py spectacular` writes it."""
    out = StringIO()
    call_command("spectacular", stdout=out)
    return yaml.safe_load(out.getvalue())


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Yield (method, path, operation) for every operation of the schema."""
    for path, entries in schema["paths"].items():
        for method, operation in entries.items():
            yield method, path, operation


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow a `$ref` (or a one-item `allOf` of one) to its component."""
    if "allOf" in node and len(node["allOf"]) == 1:
        node = node["allOf"][0]
    if "$ref" in node:
        return schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def kind(schema: dict[str, Any], node: dict[str, Any]) -> str:
    """Describe a property's type in one word: `date-time`, `integer`, `enum`..."""
    target = resolve(schema, node)
    if "enum" in target:
        return "enum"
    if target.get("format") == "date-time":
        return "date-time"
    return target.get("type", "any")


# Operations that can meet an object in the wrong state (or read-only storage).
CONFLICTS = {
    ("post", "/api/groups/"),
    ("put", "/api/groups/{name}/"),
    ("delete", "/api/groups/{name}/"),
    ("post", "/api/groups/{name}/run/"),
    ("post", "/api/groups/runs/{id}/cancel/"),
    ("post", "/api/groups/runs/{id}/retry/"),
    ("post", "/api/dead-letters/{id}/replay/"),
}

# The OpenAPI kind of each Python type of the RFC tables.
_KINDS = {
    str: "string",
    int: "integer",
    bool: "boolean",
    float: "number",
    dict: "object",
    list: "array",
    dt.datetime: "date-time",
}
# (model, field): (OpenAPI kind, nullable), RFC 3.5.3 field by field.
RFC_TYPES = {
    (model, field): ("enum" if field in ENUM_FIELDS else _KINDS[kind], nullable)
    for model, fields in MODELS.items()
    for field, (kind, nullable) in fields.items()
}


class TestOpenApiSchema:
    def test_spectacular_validates_without_warnings(self) -> None:
        out = StringIO()

        call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)

        schema = yaml.safe_load(out.getvalue())
        assert schema["openapi"].startswith("3.")
        assert set(schema["paths"]) == DOCUMENTED_PATHS

    def test_every_operation_documents_its_errors(self) -> None:
        schema = generated_schema()

        for method, path, operation in operations(schema):
            responses = operation["responses"]
            expected = {"400", "401", "403", "405", "406"}
            if "{" in path:
                expected.add("404")
            if "requestBody" in operation:
                expected.add("415")
            if (method, path) in CONFLICTS:
                expected.add("409")
            errors = {code for code in responses if int(code) >= 400}
            assert errors == expected, (method, path)
            for code in errors:
                body = responses[code]["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/Error"}, (path, code)
                assert responses[code]["description"], (path, code)

    def test_every_success_documents_its_fields(self) -> None:
        schema = generated_schema()

        for method, path, operation in operations(schema):
            for code, response in operation["responses"].items():
                if int(code) >= 300 or code == "204":
                    continue
                body = resolve(
                    schema, response["content"]["application/json"]["schema"]
                )
                if "results" in body.get("properties", {}):
                    body = resolve(schema, body["properties"]["results"]["items"])
                assert body["properties"], (method, path, code)
                assert set(body["required"]) == set(body["properties"]), (path, code)

    def test_every_field_has_a_type_or_says_it_is_any_json(self) -> None:
        components = generated_schema()["components"]["schemas"]

        for name, component in components.items():
            for field, node in component.get("properties", {}).items():
                typed = {"type", "$ref", "allOf", "enum"} & set(node)
                assert typed or "any JSON" in node.get("description", ""), (
                    name,
                    field,
                )

    def test_rfc_fields_have_the_rfc_types(self) -> None:
        schema = generated_schema()
        components = schema["components"]["schemas"]

        found = {
            (name, field): (
                kind(schema, node),
                bool(resolve(schema, node).get("nullable") or node.get("nullable")),
            )
            for name, component in components.items()
            for field, node in component.get("properties", {}).items()
        }

        for (model, field), expected in RFC_TYPES.items():
            assert found[(model, field)] == expected, (model, field)

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

    @pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
    def test_every_asset_of_the_page_is_served_here(self, path: str) -> None:
        client = APIClient()
        html = client.get(path).content.decode()
        assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)

        answers = {asset: client.get(asset).status_code for asset in assets}

        assert assets
        assert set(answers.values()) == {status.HTTP_200_OK}, answers


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
            "/api/groups/runs/01NOSUCHRUN/retry",
            "/api/dead-letters/01NOSUCHLETTER/replay",
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


# The schema and its viewers are not DRF pages; every other route is.
BROWSABLE_ROUTES = [
    (method, template)
    for method, template, _ in ROUTES
    if not template.startswith(("/api/schema", "/api/docs", "/api/redoc"))
]


class TestBrowsableApiOnEveryRoute:
    @pytest.mark.parametrize(
        ("method", "template"),
        BROWSABLE_ROUTES,
        ids=[f"{method.upper()} {template}" for method, template in BROWSABLE_ROUTES],
    )
    def test_route_answers_a_browser_with_a_page(
        self,
        admin_client: APIClient,
        objects: dict[str, str],
        method: str,
        template: str,
    ) -> None:
        path = template.format(**objects)

        response = call_route(admin_client, method, path, HTTP_ACCEPT="text/html")

        assert response.status_code < 500
        assert response["Content-Type"].startswith("text/html")
        assert "Django REST framework" in response.content.decode()
