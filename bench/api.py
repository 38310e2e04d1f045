"""Time the three big reads of the REST API and print the figures as JSON.

Run: `.venv/bin/python bench/api.py [--repeat 30]`. It builds a throw-away test
database (SQLite in memory by default, or the test database of DATABASE_URL),
fills it with a 1,000-step run (half of its steps done), 200 groups and 500 runs,
and GETs the run detail, the group list and the run list repeatedly with a DRF
token, as an API client would. Nothing is asserted here: tests/api pins the query
counts, this script reports the time.
"""

from __future__ import annotations

import argparse
import json
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
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--runs", type=int, default=500)
    return parser.parse_args()


def _time(client: Any, path: str, repeat: int) -> dict[str, Any]:
    """GET a path `repeat` times; return times in ms and the query count."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(path)  # warm caches: plan parsing, registry, permissions
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    return {
        "path": path,
        "status": response.status_code,
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(sorted(times)[max(int(len(times) * 0.95) - 1, 0)], 2),
        "min_ms": round(min(times), 2),
        "queries": len(queries.captured_queries),
        "bytes": len(response.content),
    }


def main() -> None:
    """Build the data, time the endpoints, print one JSON object."""
    options = _arguments()

    import django

    django.setup()
    from django.db import connection
    from django.test.runner import DiscoverRunner
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from pipeline_groups.models import GroupDefinition
    from tests.api import volume
    from tests.factories import UserFactory

    runner = DiscoverRunner(verbosity=0, interactive=False)
    databases = runner.setup_databases()
    try:
        # Only the groups made here: migrate mirrors Python-defined groups.
        GroupDefinition.objects.all().delete()
        big = volume.run_with_executions(
            volume.wide_group("bench.big_run", options.steps), options.steps // 2
        )
        volume.many_groups(options.groups)
        volume.many_runs(options.runs)

        user = UserFactory(username="bench", is_superuser=True)
        client = APIClient()
        client.credentials(
            HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}"
        )
        result = {
            "benchmark": "api",
            "database": connection.vendor,
            "repeat": options.repeat,
            "run_detail": {
                "steps": options.steps,
                **_time(client, f"/api/groups/runs/{big.id}/", options.repeat),
            },
            "groups_list": {
                "groups": GroupDefinition.objects.count(),
                **_time(client, "/api/groups/?limit=500", options.repeat),
            },
            "runs_list": {
                "runs": options.runs,
                **_time(
                    client,
                    f"/api/groups/runs/?limit={options.runs}&group_name=bench.runs",
                    options.repeat,
                ),
            },
        }
    finally:
        runner.teardown_databases(databases)
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
