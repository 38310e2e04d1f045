"""Fixtures of the API tests: users of each role, clients and group documents.

Roles: `reader` (logged in, no permission), `runner` (`run_group`), `editor`
(add, change and delete groups), `admin` (superuser). The group documents follow
RFC appendix A.1 over the small pipelines of `tests.api.pipelines`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from pipeline_groups.models import GroupDefinition, RunStatus
from tests.api import pipelines  # noqa: F401  (registers the test pipelines)
from tests.factories import (
    DeadLetterFactory,
    ExecutionFactory,
    GroupDefinitionFactory,
    GroupRunFactory,
    UserFactory,
)

# The worker tests' qcluster harness, for the appendix B end-to-end test.
from tests.workers.conftest import worker_backend, workers  # noqa: F401, I001

ROLE_PERMISSIONS = {
    "reader": [],
    "runner": ["run_group"],
    "editor": [
        "add_groupdefinition",
        "change_groupdefinition",
        "delete_groupdefinition",
    ],
}

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
    ("get", "/api/groups/{group}/plan?tier=T1&week_ending=2026-01-03", READERS),
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


def call_route(client: APIClient, method: str, path: str, **headers: str) -> Any:
    """Call a route with an empty JSON body where it takes one."""
    if method in {"post", "put"}:
        return getattr(client, method)(path, {}, format="json", **headers)
    return getattr(client, method)(path, **headers)


FINRA_RUN_PARAMS = {"tier": "NMS_TIER_1", "week_ending": "2026-01-03"}


def weekly_refresh_document(name: str = "finra.weekly_refresh") -> dict[str, Any]:
    """RFC appendix A.1 with the test pipelines in place of the FINRA ones."""
    return {
        "apiVersion": "spine.io/v1",
        "kind": "PipelineGroup",
        "metadata": {
            "name": name,
            "domain": "finra.otc_transparency",
            "version": 1,
            "description": "Full weekly refresh for FINRA OTC transparency data.\n",
        },
        "spec": {
            "defaults": {
                "tier": "{{ params.tier }}",
                "week_ending": "{{ params.week_ending }}",
            },
            "pipelines": [
                {
                    "name": "ingest",
                    "pipeline": "apitest.ingest_week",
                    "params": {"source_type": "api"},
                },
                {
                    "name": "normalize",
                    "pipeline": "apitest.transform_week",
                    "depends_on": ["ingest"],
                },
                {
                    "name": "aggregate",
                    "pipeline": "apitest.transform_week",
                    "depends_on": ["normalize"],
                },
                {
                    "name": "rolling",
                    "pipeline": "apitest.transform_week",
                    "depends_on": ["aggregate"],
                },
            ],
            "policy": {
                "execution": "parallel",
                "max_concurrency": 2,
                "on_failure": "continue",
            },
        },
    }


def make_user(role: str) -> Any:
    """Create a user holding the permissions of `role`."""
    if role == "admin":
        return UserFactory(username="admin", is_staff=True, is_superuser=True)
    user = UserFactory(username=role)
    codenames = ROLE_PERMISSIONS[role]
    if codenames:
        user.user_permissions.set(
            Permission.objects.filter(
                content_type__app_label="pipeline_groups", codename__in=codenames
            )
        )
    return user


@pytest.fixture(autouse=True)
def no_mirrored_groups(db: None) -> None:
    """Start from an empty group table: migrate mirrors Python-defined groups."""
    GroupDefinition.objects.all().delete()


@pytest.fixture
def document() -> dict[str, Any]:
    """Return a fresh copy of the weekly refresh document."""
    return copy.deepcopy(weekly_refresh_document())


@pytest.fixture
def client_for(db: None) -> Callable[[str | None], APIClient]:
    """Return an API client logged in as the given role (None: anonymous)."""

    def build(role: str | None) -> APIClient:
        client = APIClient()
        if role is not None:
            client.force_authenticate(make_user(role))
        return client

    return build


@pytest.fixture
def admin_client(client_for: Callable[[str | None], APIClient]) -> APIClient:
    """Return a superuser's client."""
    return client_for("admin")


@pytest.fixture
def token_client(db: None) -> APIClient:
    """Return a client that authenticates with a real DRF token in the header."""
    user = make_user("admin")
    token = Token.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def weekly_group(admin_client: APIClient, document: dict[str, Any]) -> dict:
    """Create the weekly refresh group through the API."""
    response = admin_client.post("/api/groups/", document, format="json")
    assert response.status_code == 201, response.json()
    return response.json()
