"""Every error under /api/ is JSON that names what is wrong."""

from __future__ import annotations

import pytest
import yaml
from rest_framework import status
from rest_framework.test import APIClient, APIRequestFactory

from pipeline_groups.api.exceptions import api_exception_handler, snake_code
from pipeline_groups.exceptions import (
    CycleError,
    GroupNotFoundError,
    MissingRunParameterError,
    StepParameterError,
)
from tests.api.conftest import ROUTES, call_route

pytestmark = pytest.mark.django_db


class TestUnknownRoutes:
    @pytest.mark.parametrize(
        "path",
        [
            "/api/nothing-here/",
            "/api/groups/a.b/unknown-action",
            "/api/groups/runs/x/y/z",
            "/api/executions",
        ],
    )
    def test_unknown_path_is_a_json_404(
        self, admin_client: APIClient, path: str
    ) -> None:
        response = admin_client.get(path)

        if path == "/api/executions":
            assert response.status_code == status.HTTP_200_OK
            return
        assert response.status_code == status.HTTP_404_NOT_FOUND
        assert response["Content-Type"] == "application/json"
        assert response.json()["code"] == "not_found"

    def test_unknown_path_is_json_even_for_anonymous(self) -> None:
        response = APIClient().post("/api/nothing/", {}, format="json")

        assert response.status_code == status.HTTP_404_NOT_FOUND
        assert response.json()["detail"].startswith("No API route matches")


# Every route but the API root, with and without its final slash.
SLASH_ROUTES = [
    (method, template, slash)
    for method, template, _ in ROUTES
    if template != "/api/"
    for slash in (True, False)
]


class TestFinalSlash:
    @pytest.mark.parametrize(
        ("method", "template", "slash"),
        SLASH_ROUTES,
        ids=[
            f"{method.upper()} {template} {'with' if slash else 'without'} slash"
            for method, template, slash in SLASH_ROUTES
        ],
    )
    def test_route_matches_either_way(
        self,
        admin_client: APIClient,
        objects: dict[str, str],
        method: str,
        template: str,
        slash: bool,
    ) -> None:
        path, _, query = template.format(**objects).partition("?")
        path = path.rstrip("/") + ("/" if slash else "")

        response = call_route(admin_client, method, f"{path}?{query}")

        assert response.status_code != status.HTTP_404_NOT_FOUND, response.content
        assert response.status_code < 500


class TestMethodAndFormat:
    def test_wrong_method_is_a_json_405(self, admin_client: APIClient) -> None:
        response = admin_client.delete("/api/groups/runs/")

        assert response.status_code == status.HTTP_405_METHOD_NOT_ALLOWED
        assert response.json()["code"] == "method_not_allowed"

    def test_get_on_a_post_action_is_a_405(self, admin_client: APIClient) -> None:
        response = admin_client.get("/api/groups/a.b/run")

        assert response.status_code == status.HTTP_405_METHOD_NOT_ALLOWED

    def test_unservable_accept_is_a_json_406(self, admin_client: APIClient) -> None:
        response = admin_client.get("/api/groups/", HTTP_ACCEPT="application/xml")

        assert response.status_code == status.HTTP_406_NOT_ACCEPTABLE
        assert response.json()["code"] == "not_acceptable"


class TestErrorBodies:
    def test_unexpected_exception_becomes_a_json_500(self) -> None:
        request = APIRequestFactory().get("/api/groups/")

        response = api_exception_handler(
            ZeroDivisionError("boom"), {"request": request, "view": None}
        )

        assert response.status_code == status.HTTP_500_INTERNAL_SERVER_ERROR
        assert response.data["code"] == "server_error"
        assert "boom" not in response.data["detail"]

    def test_plan_error_names_step_and_parameters(self) -> None:
        error = StepParameterError(
            group="g", step="ingest", pipeline="p", missing=["tier"]
        )

        response = api_exception_handler(error, {})

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert response.data["step"] == "ingest"
        assert response.data["parameter"] == "tier"
        assert response.data["errors"] == [
            {
                "path": "steps.ingest.params.tier",
                "message": "missing required param 'tier'",
                "line": None,
            }
        ]

    def test_missing_run_param_points_at_the_run_params(self) -> None:
        error = MissingRunParameterError(
            group="g",
            step="ingest",
            parameter="tier",
            template="{{ params.tier }}",
            name="tier",
        )

        response = api_exception_handler(error, {})

        assert response.data["errors"][0]["path"] == "params.tier"
        assert response.data["code"] == "missing_run_parameter"

    def test_cycle_error_keeps_the_cycle_in_the_message(self) -> None:
        error = CycleError(group="g", cycle=["a", "b", "a"])

        response = api_exception_handler(error, {})

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert "a -> b -> a" in response.data["detail"]

    def test_codes_are_snake_case_class_names(self) -> None:
        assert snake_code(GroupNotFoundError("x")) == "group_not_found"


class TestHostileBodies:
    @pytest.mark.parametrize(
        ("path", "body"),
        [
            ("/api/groups/", "[" * 100_000),
            ("/api/pipelines/apitest.fail/run", '{"params": {"x": 1e999}}'),
            ("/api/pipelines/apitest.fail/run", '{"params": {"x": NaN}}'),
            ("/api/pipelines/apitest.fail/run", '{"params": {"x": -Infinity}}'),
            ("/api/pipelines/apitest.fail/run", '{"params": {"x": "a\\u0000b"}}'),
        ],
    )
    def test_json_that_cannot_be_stored_is_a_400(
        self, admin_client: APIClient, path: str, body: str
    ) -> None:
        response = admin_client.post(path, body, content_type="application/json")

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert response.json()["code"] == "parse_error"

    @pytest.mark.parametrize(
        "text",
        [
            "a: &a [*a, *a]\n",
            "!!python/object/apply:os.system ['true']\n",
            "- just\n- a list\n",
            "",
        ],
    )
    def test_hostile_yaml_is_a_400(self, admin_client: APIClient, text: str) -> None:
        response = admin_client.post(
            "/api/groups/", text, content_type="application/yaml"
        )

        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert response.json()["code"] == "group_spec"

    @pytest.mark.parametrize(
        "path",
        [
            "/api/groups/%00/",
            "/api/groups/" + "a" * 5000 + "/",
            "/api/groups/%C3%A9.%C3%BC/plan?x=%00",
            "/api/groups/runs/?created_after=not-a-date",
            "/api/groups/runs/?limit=-5&offset=-3",
            "/api/groups/runs/?group_name=%00",
            "/api/groups/runs/?created_before=0221-08-23T15%3A07%3A17-20%3A55",
            "/api/groups/runs/?created_after=0001-01-01T00:00:00%2B05:00",
            "/api/groups/runs/%00/",
            "/api/groups/?search=a%00",
        ],
    )
    def test_odd_paths_and_queries_are_not_server_errors(
        self, admin_client: APIClient, path: str
    ) -> None:
        response = admin_client.get(path)

        assert response.status_code < 500
        assert response["Content-Type"] == "application/json"

    def test_nul_in_a_yaml_document_is_a_400(
        self, admin_client: APIClient, document: dict
    ) -> None:
        document["metadata"]["description"] = "PLACEHOLDER"
        text = yaml.safe_dump(document).replace("PLACEHOLDER", '"a\\0b"')

        response = admin_client.post(
            "/api/groups/", text, content_type="application/yaml"
        )

        assert response.status_code == status.HTTP_400_BAD_REQUEST
