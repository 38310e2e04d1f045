"""Who may call what: the authorisation matrix over every route, tokens and CSRF."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework import status
from rest_framework.test import APIClient

from pipeline_groups.models import GroupRun, GroupVersion
from tests.api.conftest import FINRA_RUN_PARAMS, ROLES, ROUTES, call_route, make_user
from tests.factories import DEFAULT_PASSWORD

READ_ROUTES = [route for route in ROUTES if route[0] == "get"]
WRITE_ROUTES = [route for route in ROUTES if route[0] != "get"]


def route_ids(routes: list[tuple[str, str, set[str]]]) -> list[str]:
    """Name each parametrized route as `METHOD path`."""
    return [f"{method.upper()} {template}" for method, template, _ in routes]


def client_as(role: str) -> APIClient:
    """Return a client for the role; `anonymous` sends no credentials."""
    client = APIClient()
    if role != "anonymous":
        client.force_authenticate(make_user(role))
    return client


@pytest.mark.django_db
class TestAuthorisationMatrix:
    @pytest.mark.parametrize("role", ROLES)
    @pytest.mark.parametrize(
        ("method", "template", "allowed"),
        ROUTES,
        ids=route_ids(ROUTES),
    )
    def test_role_may_or_may_not_call_route(
        self,
        objects: dict[str, str],
        role: str,
        method: str,
        template: str,
        allowed: set[str],
    ) -> None:
        path = template.format(**objects)

        response = call_route(client_as(role), method, path)

        if role in allowed:
            assert response.status_code not in {401, 403}, response.content[:300]
            assert response.status_code < 500
        elif role == "anonymous":
            assert response.status_code == status.HTTP_401_UNAUTHORIZED
            assert response["WWW-Authenticate"] == "Token"
            assert response.json()["code"] == "not_authenticated"
        else:
            assert response.status_code == status.HTTP_403_FORBIDDEN
            assert response.json()["code"] == "permission_denied"


@pytest.mark.django_db
class TestAnonymousRead:
    @pytest.fixture(autouse=True)
    def anonymous_read(self, settings: Any) -> None:
        settings.SPINE_ALLOW_ANONYMOUS_READ = True

    @pytest.mark.parametrize(
        ("method", "template", "allowed"), READ_ROUTES, ids=route_ids(READ_ROUTES)
    )
    def test_setting_opens_every_read(
        self, objects: dict[str, str], method: str, template: str, allowed: set[str]
    ) -> None:
        response = call_route(APIClient(), method, template.format(**objects))

        assert response.status_code == status.HTTP_200_OK

    @pytest.mark.parametrize(
        ("method", "template", "allowed"), WRITE_ROUTES, ids=route_ids(WRITE_ROUTES)
    )
    def test_setting_opens_no_write(
        self, objects: dict[str, str], method: str, template: str, allowed: set[str]
    ) -> None:
        response = call_route(APIClient(), method, template.format(**objects))

        assert response.status_code == status.HTTP_401_UNAUTHORIZED


@pytest.mark.django_db
class TestTokenAuthentication:
    def test_drf_create_token_key_authenticates(self, objects: dict[str, str]) -> None:
        make_user("runner")
        out = StringIO()
        call_command("drf_create_token", "runner", stdout=out)
        key = out.getvalue().split()[2]
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

        response = client.get("/api/groups/runs/")

        assert response.status_code == status.HTTP_200_OK

    def test_token_writes_need_no_csrf_and_record_the_user(
        self, weekly_group: dict
    ) -> None:
        make_user("runner")
        out = StringIO()
        call_command("drf_create_token", "runner", stdout=out)
        client = APIClient(enforce_csrf_checks=True)
        client.credentials(HTTP_AUTHORIZATION=f"Token {out.getvalue().split()[2]}")

        response = client.post(
            "/api/groups/finra.weekly_refresh/run",
            {"params": FINRA_RUN_PARAMS},
            format="json",
        )

        assert response.status_code == status.HTTP_202_ACCEPTED
        assert response.json()["created_by"] == "runner"
        assert GroupRun.objects.get(pk=response.json()["id"]).created_by == "runner"

    def test_wrong_token_is_a_401(self) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")

        response = client.get("/api/groups/")

        assert response.status_code == status.HTTP_401_UNAUTHORIZED
        assert response.json()["code"] == "authentication_failed"


@pytest.mark.django_db
class TestCreatedBy:
    def test_each_version_records_who_saved_it(
        self, weekly_group: dict, document: dict
    ) -> None:
        editor = client_as("editor")
        document["spec"]["policy"]["max_concurrency"] = 3

        response = editor.put(
            "/api/groups/finra.weekly_refresh/", document, format="json"
        )

        assert response.status_code == status.HTTP_200_OK
        assert response.json()["created_by"] == "admin"
        versions = GroupVersion.objects.filter(group__name="finra.weekly_refresh")
        assert dict(versions.values_list("version", "created_by")) == {
            1: "admin",
            2: "editor",
        }


@pytest.mark.django_db(transaction=True)
class TestSessionAndCsrf:
    @pytest.fixture
    def session_client(self, objects: dict[str, str]) -> APIClient:
        make_user("runner")
        client = APIClient(enforce_csrf_checks=True)
        assert client.login(username="runner", password=DEFAULT_PASSWORD)
        return client

    def test_session_reads_without_csrf(self, session_client: APIClient) -> None:
        response = session_client.get("/api/groups/")

        assert response.status_code == status.HTTP_200_OK

    def test_session_write_without_csrf_token_is_refused(
        self, session_client: APIClient, objects: dict[str, str]
    ) -> None:
        response = session_client.post(
            f"/api/groups/runs/{objects['run']}/retry", {}, format="json"
        )

        assert response.status_code == status.HTTP_403_FORBIDDEN
        assert "CSRF" in response.json()["detail"]

    def test_session_write_with_csrf_token_goes_through(
        self, session_client: APIClient, objects: dict[str, str]
    ) -> None:
        # The browsable API page carries a CSRF token and sets its cookie.
        page = session_client.get("/api/groups/", HTTP_ACCEPT="text/html")
        assert page.status_code == status.HTTP_200_OK
        token = session_client.cookies["csrftoken"].value

        response = session_client.post(
            f"/api/groups/runs/{objects['run']}/retry",
            {},
            format="json",
            HTTP_X_CSRFTOKEN=token,
        )

        assert response.status_code not in {401, 403}
