"""Time the Pipelines view (`/`) with 50 groups and print the figures as JSON.

Run: `.venv/bin/python bench/pages.py [--groups 50] [--runs 3] [--repeat 30]`.
It builds a throw-away test database (SQLite in memory by default, or the test
database of DATABASE_URL), fills it with groups whose latest runs are running,
failed and completed, logs a user in, and renders `/` and its polled rows
repeatedly through Django's test client. Nothing here is asserted: the query
count is pinned by tests/pages, and this script reports time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spine_site.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("SPINE_LOG_LEVEL", "WARNING")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3, help="runs per group")
    parser.add_argument("--repeat", type=int, default=30)
    return parser.parse_args()


def _fill(groups: int, runs: int) -> None:
    """Create groups, each with `runs` runs whose steps have executions."""
    from datetime import timedelta

    from django.utils import timezone

    from pipeline_groups.models import ExecutionStatus, RunStatus
    from tests.factories import (
        ExecutionFactory,
        GroupDefinitionFactory,
        GroupRunExecutionFactory,
        GroupRunFactory,
    )

    cycle = [RunStatus.RUNNING, RunStatus.FAILED, RunStatus.COMPLETED]
    now = timezone.now()
    for index in range(groups):
        group = GroupDefinitionFactory(name=f"bench.group_{index:03d}")
        for age in range(runs):
            status = cycle[(index + age) % len(cycle)]
            started = now - timedelta(minutes=10 * (age + 1))
            run = GroupRunFactory(
                group=group, status=status, created_at=started, started_at=started
            )
            step_status = {
                RunStatus.RUNNING: ExecutionStatus.RUNNING,
                RunStatus.FAILED: ExecutionStatus.FAILED,
                RunStatus.COMPLETED: ExecutionStatus.COMPLETED,
            }[status]
            for order, step in enumerate(run.plan["steps"]):
                execution = ExecutionFactory(
                    pipeline_name=step["pipeline_name"],
                    batch_id=run.batch_id,
                    status=step_status if order else ExecutionStatus.COMPLETED,
                    started_at=started + timedelta(seconds=order * 30),
                    completed_at=None
                    if step_status == ExecutionStatus.RUNNING and order
                    else started + timedelta(seconds=order * 30 + 25),
                    error="ValueError: bad input" if order else "",
                )
                GroupRunExecutionFactory(
                    group_run=run,
                    execution=execution,
                    step_name=step["step_name"],
                    sequence_order=order,
                )


def _time(client: Any, path: str, repeat: int) -> dict[str, Any]:
    """Render a path `repeat` times; return times in ms and the query count."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(path)  # warm caches: templates, registry, permissions
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    return {
        "status": response.status_code,
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(sorted(times)[math.ceil(len(times) * 0.95) - 1], 2),
        "min_ms": round(min(times), 2),
        "queries": len(queries.captured_queries),
        "bytes": len(response.content),
    }


def main() -> None:
    """Build the data, render the pages, print one JSON object."""
    options = _arguments()

    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.runner import DiscoverRunner

    from tests.factories import UserFactory

    runner = DiscoverRunner(verbosity=0, interactive=False)
    databases = runner.setup_databases()
    try:
        _fill(options.groups, options.runs)
        client = Client()
        client.force_login(UserFactory(username="bench"))
        result = {
            "benchmark": "pages",
            "database": connection.vendor,
            "groups": options.groups,
            "runs_per_group": options.runs,
            "repeat": options.repeat,
            "pipelines_page": _time(client, "/", options.repeat),
            "pipelines_rows_poll": _time(client, "/rows/", options.repeat),
        }
    finally:
        runner.teardown_databases(databases)
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
