"""Query counts of the big reads stay fixed however much data there is."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework import status
from rest_framework.test import APIClient

from tests.api import volume

pytestmark = pytest.mark.django_db

RUN_DETAIL_QUERIES = 4
GROUP_LIST_QUERIES = 2
RUN_LIST_QUERIES = 4


class TestRunDetailQueries:
    def test_thousand_step_run_takes_a_fixed_number(
        self, admin_client: APIClient, django_assert_max_num_queries: Any
    ) -> None:
        run = volume.run_with_executions(volume.wide_group("big.run", 1000), 500)

        with django_assert_max_num_queries(RUN_DETAIL_QUERIES):
            response = admin_client.get(f"/api/groups/runs/{run.id}/")

        assert response.status_code == status.HTTP_200_OK
        steps = response.json()["steps"]
        assert len(steps) == 1000
        assert sum(step["status"] == "completed" for step in steps) == 500

    def test_small_run_takes_the_same_number(
        self, admin_client: APIClient, django_assert_max_num_queries: Any
    ) -> None:
        run = volume.run_with_executions(volume.wide_group("small.run", 3), 1)

        with django_assert_max_num_queries(RUN_DETAIL_QUERIES):
            response = admin_client.get(f"/api/groups/runs/{run.id}/")

        assert len(response.json()["steps"]) == 3


class TestListQueries:
    def test_two_hundred_groups(
        self, admin_client: APIClient, django_assert_max_num_queries: Any
    ) -> None:
        volume.many_groups(200)

        with django_assert_max_num_queries(GROUP_LIST_QUERIES):
            response = admin_client.get("/api/groups/?limit=500")

        assert response.json()["count"] == 201

    def test_five_hundred_runs(
        self, admin_client: APIClient, django_assert_max_num_queries: Any
    ) -> None:
        volume.many_runs(500)

        with django_assert_max_num_queries(RUN_LIST_QUERIES):
            response = admin_client.get("/api/groups/runs/?limit=500")

        body = response.json()
        assert body["count"] == 500
        assert len(body["results"]) == 500
        assert body["results"][0]["step_counts"] in (
            {"running": 1, "pending": 2},
            {"completed": 1, "pending": 2},
        )
