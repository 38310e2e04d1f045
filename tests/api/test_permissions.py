"""Who may call what: the authorisation matrix over every route, tokens and CSRF."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework import status
from rest_framework.test import APIClient

from pipeline_groups.models import RunStatus
from tests.api.conftest import make_user
from tests.factories import (
    DEFAULT_PASSWORD,
    DeadLetterFactory,
    ExecutionFactory,
    GroupDefinitionFactory,
    GroupRunFactory,
)

ROLES = ["anonymous", "reader", "runner", "editor", "admin"]
EVERYONE = set(ROLES)
READERS = EVERYONE - {"anonymous"}
RUNNERS = {"runner", "admin"}
EDITORS = {"editor", "admin"}

# (method, path template, roles allowed). Ids are filled in from the objects.
ROUTES = [
    ("get", "/api/", READERS),
    ("get", "/api/groups/", READERS),
    ("get", "/api/groups/{group}/", READERS),
    ("get", "/api/groups/{group}/plan", READERS),
    ("post", "/api/groups/", EDITORS),
    ("put", "/api/groups/{group}/", EDITORS),
    ("delete", "/api/groups/{group}/", EDITORS),
    ("post", "/api/groups/{group}/run", RUNNERS),
    ("get", "/api/groups/runs/", READERS),
    ("get", "/api/groups/runs/{run}/", READERS),
    ("post", "/api/groups/runs/{run}/cancel", RUNNERS),
    ("post", "/api/groups/runs/{run}/retry", RUNNERS),
    ("get", "/api/pipelines/", READERS),
    ("get", "/api/pipelines/apitest.fail/", READERS),
    ("post", "/api/pipelines/apitest.fail/run", RUNNERS),
    ("get", "/api/executions/", READERS),
    ("get", "/api/executions/{execution}/", READERS),
    ("get", "/api/dead-letters/", READERS),
    ("get", "/api/dead-letters/{letter}/", READERS),
    ("post", "/api/dead-letters/{letter}/replay", RUNNERS),
    ("get", "/api/schema/", EVERYONE),
    ("get", "/api/docs/", EVERYONE),
    ("get", "/api/redoc/", EVERYONE),
]


@pytest.fixture
def objects(db: None) -> dict[str, str]:
    """One of everything a route can name."""
    group = GroupDefinitionFactory(name="finra.weekly_refresh")
    run = GroupRunFactory(group=group, status=RunStatus.FAILED)
    return {
        "group": group.name,
        "run": run.id,
        "execution": ExecutionFactory().id,
        "letter": DeadLetterFactory().id,
    }


def client_as(role: str) -> APIClient:
    """Return a client for the role; `anonymous` sends no credentials."""
    client = APIClient()
    if role != "anonymous":
        client.force_authenticate(make_user(role))
    return client


def call(client: APIClient, method: str, path: str) -> Any:
    """Call a route with an empty JSON body where it takes one."""
    if method in {"post", "put"}:
        return getattr(client, method)(path, {}, format="json")
    return getattr(client, method)(path)


@pytest.mark.django_db
class TestAuthorisationMatrix:
    @pytest.mark.parametrize("role", ROLES)
    @pytest.mark.parametrize(
        ("method", "template", "allowed"),
        ROUTES,
        ids=[f"{method.upper()} {template}" for method, template, _ in ROUTES],
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

        response = call(client_as(role), method, path)

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
    def test_setting_opens_reads_but_not_writes(
        self, settings: Any, objects: dict[str, str]
    ) -> None:
        settings.SPINE_ALLOW_ANONYMOUS_READ = True
        client = APIClient()

        read = client.get("/api/groups/finra.weekly_refresh/")
        runs = client.get("/api/groups/runs/")
        write = client.post("/api/groups/finra.weekly_refresh/run", {}, format="json")

        assert read.status_code == status.HTTP_200_OK
        assert runs.status_code == status.HTTP_200_OK
        assert write.status_code == status.HTTP_401_UNAUTHORIZED


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

    def test_wrong_token_is_a_401(self) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")

        response = client.get("/api/groups/")

        assert response.status_code == status.HTTP_401_UNAUTHORIZED
        assert response.json()["code"] == "authentication_failed"


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
