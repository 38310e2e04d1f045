"""Query counts of the big reads stay fixed however much data there is.

Each read is counted twice, on a small data set and on the large one of the
issue (a 1,000-step run, 200 groups, 500 runs): the two counts must be equal and
within the pinned bound, so a query per row cannot creep in unnoticed.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework import status
from rest_framework.test import APIClient

from tests.api import volume

pytestmark = pytest.mark.django_db

RUN_DETAIL_QUERIES = 4
GROUP_LIST_QUERIES = 2
RUN_LIST_QUERIES = 4


def counted_get(client: APIClient, path: str) -> tuple[int, Any]:
    """GET a path; return how many queries it took and the response."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == status.HTTP_200_OK, response.content[:300]
    return len(queries.captured_queries), response


class TestRunDetailQueries:
    def test_thousand_step_run_takes_as_many_as_three_steps(
        self, admin_client: APIClient
    ) -> None:
        small = volume.run_with_executions(volume.wide_group("small.run", 3), 1)
        big = volume.run_with_executions(volume.wide_group("big.run", 1000), 500)

        few, _ = counted_get(admin_client, f"/api/groups/runs/{small.id}/")
        many, response = counted_get(admin_client, f"/api/groups/runs/{big.id}/")

        assert many == few <= RUN_DETAIL_QUERIES
        steps = response.json()["steps"]
        assert len(steps) == 1000
        assert sum(step["status"] == "completed" for step in steps) == 500


class TestListQueries:
    def test_two_hundred_groups_take_as_many_as_one(
        self, admin_client: APIClient
    ) -> None:
        volume.wide_group("one.group", 3)
        few, _ = counted_get(admin_client, "/api/groups/?limit=500")
        volume.many_groups(200)

        many, response = counted_get(admin_client, "/api/groups/?limit=500")

        assert many == few <= GROUP_LIST_QUERIES
        assert response.json()["count"] == 202

    def test_five_hundred_runs_take_as_many_as_five(
        self, admin_client: APIClient
    ) -> None:
        volume.many_runs(5)
        few, _ = counted_get(admin_client, "/api/groups/runs/?limit=500")
        volume.many_runs(500, name="bench.more_runs")

        many, response = counted_get(admin_client, "/api/groups/runs/?limit=500")

        assert many == few <= RUN_LIST_QUERIES
        body = response.json()
        assert body["count"] == 505
        assert len(body["results"]) == 500
        assert body["results"][0]["step_counts"] in (
            {"running": 1, "pending": 2},
            {"completed": 1, "pending": 2},
        )
