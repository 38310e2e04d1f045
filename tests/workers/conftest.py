"""Real `qcluster` processes for the worker tests, started and stopped by each test.

The broker follows the session: django-q2's ORM broker unless REDIS_URL is set (or
SPINE_REQUIRE_REDIS), then Redis; the database is whatever DATABASE_URL names. A
worker is another process, so these tests commit for real (`transaction=True`)
and, on SQLite, get a file database instead of pytest-django's in-memory one
(tests/conftest.py).

Each cluster is a `tests.workers.cluster.Cluster`, signalled through its main
process only and killed with its orphans by session id at teardown.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from pipeline_groups import backends
from pipeline_groups.models import (
    RUN_TERMINAL,
    GroupDefinition,
    GroupRun,
    GroupRunExecution,
)
from tests.workers import pipelines
from tests.workers.cluster import Cluster, ClusterNotReady
from tests.workers.pipelines import RECORD_VARIABLE, read_records

# Short intervals, so a lost worker is noticed in seconds, not minutes.
FAST_SETTINGS = {
    "SPINE_HEARTBEAT_SECONDS": 0.5,
    "SPINE_HEARTBEAT_TIMEOUT_SECONDS": 3.0,
    "SPINE_REAPER_INTERVAL_SECONDS": 1.0,
    "SPINE_REDISPATCH_AFTER_SECONDS": 4.0,
    "SPINE_STEP_TIMEOUT_SECONDS": 60,
}


def _database_url() -> str:
    """Return the URL a worker process needs to reach the session's test database."""
    current = connection.settings_dict
    if current["ENGINE"] == "django.db.backends.sqlite3":
        name = str(current["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            pytest.fail("worker tests need a file SQLite database, not in-memory")
        return f"sqlite:///{os.path.abspath(name)}"
    credentials = quote(current.get("USER") or "", safe="")
    if current.get("PASSWORD"):
        credentials += ":" + quote(current["PASSWORD"], safe="")
    host = current.get("HOST") or "127.0.0.1"
    port = current.get("PORT") or 5432
    return f"postgres://{credentials}@{host}:{port}/{current['NAME']}"


def _wants_redis() -> bool:
    required = os.environ.get("SPINE_REQUIRE_REDIS", "").lower()
    return bool(os.environ.get("REDIS_URL")) or required in {"1", "true", "yes", "on"}


@pytest.fixture(scope="session")
def worker_backend(
    request: pytest.FixtureRequest, django_db_setup: None, django_db_blocker: Any
) -> Iterator[dict[str, str]]:
    """Describe this session's broker and database, and name its queue uniquely."""
    if os.environ.get("SPINE_REQUIRE_POSTGRES", "").lower() in {"1", "true"}:
        request.getfixturevalue("postgres")
    redis_url = request.getfixturevalue("redis_url") if _wants_redis() else ""

    from django_q.conf import Conf

    name = f"spine-test-{uuid.uuid4().hex[:10]}"
    saved = (Conf.PREFIX, Conf.CLUSTER_NAME, settings.Q_CLUSTER.get("name"))
    # The test process enqueues too (start_run), so it must speak to the same
    # queue and sign with the same prefix as the clusters it starts.
    Conf.PREFIX = Conf.CLUSTER_NAME = name
    settings.Q_CLUSTER["name"] = name
    # The engine keeps one broker per process; build it again for this queue.
    backends._broker = None
    with django_db_blocker.unblock():
        database_url = _database_url()
    yield {
        "broker": "redis" if redis_url else "orm",
        "redis_url": redis_url,
        "database_url": database_url,
        "cluster_name": name,
    }

    Conf.PREFIX, Conf.CLUSTER_NAME, settings.Q_CLUSTER["name"] = saved
    backends._broker = None
    if redis_url:
        import redis

        redis.Redis.from_url(redis_url).delete(f"django_q:{name}:q")


class Workers:
    """Start clusters for one test, and stop every one of them afterwards."""

    def __init__(self, backend: dict[str, str], tmp_path: Path) -> None:
        self.backend = backend
        self.tmp_path = tmp_path
        self.record_path = tmp_path / "bodies.jsonl"
        self.clusters: list[Cluster] = []

    def environment(self, workers: int, overrides: dict[str, Any]) -> dict[str, str]:
        """Return the variables a cluster needs to share the test's database."""
        env = dict(os.environ)
        env.pop("REDIS_URL", None)
        env.update(
            {
                "DATABASE_URL": self.backend["database_url"],
                "SPINE_Q_CLUSTER_NAME": self.backend["cluster_name"],
                "SPINE_PIPELINE_MODULES": pipelines.__name__,
                "SPINE_WORKERS": str(workers),
                RECORD_VARIABLE: str(self.record_path),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.backend["redis_url"]:
            env["REDIS_URL"] = self.backend["redis_url"]
        for key, value in {**FAST_SETTINGS, **overrides}.items():
            env[key] = str(value)
        return env

    def start(self, workers: int = 2, **overrides: Any) -> Cluster:
        """Start one cluster and wait until it takes work."""
        log_path = self.tmp_path / f"qcluster-{len(self.clusters)}.log"
        cluster = Cluster(self.environment(workers, overrides), log_path, workers)
        self.clusters.append(cluster)
        try:
            cluster.wait_ready()
        except ClusterNotReady as error:
            pytest.fail(str(error))
        return cluster

    def records(self) -> list[dict[str, Any]]:
        """Every body start and end written so far."""
        return read_records(self.record_path)

    def logs(self) -> str:
        """Return the logs of every cluster, for failure messages."""
        return "\n".join(
            f"--- {cluster.log_path.name}\n{cluster.log()}" for cluster in self.clusters
        )

    def stop_all(self) -> None:
        """Stop every cluster still running, gracefully first."""
        for cluster in self.clusters:
            if cluster.process.poll() is None:
                cluster.process.send_signal(signal.SIGTERM)
        for cluster in self.clusters:
            if not cluster._log.closed:
                cluster.stop(timeout=20)


@pytest.fixture
def workers(
    transactional_db: None,
    worker_backend: dict[str, str],
    tmp_path: Path,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Workers]:
    """Start real clusters on demand; all are stopped before the database is reset."""
    for key, value in FAST_SETTINGS.items():
        setattr(settings, key, value)
    pool = Workers(worker_backend, tmp_path)
    monkeypatch.setenv(RECORD_VARIABLE, str(pool.record_path))
    yield pool

    pool.stop_all()


def wait_for(
    predicate: Callable[[], Any], timeout: float, what: str, logs: Callable[[], str]
) -> Any:
    """Poll until `predicate` returns something true, or fail saying what lagged."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"{what} did not happen within {timeout}s\n{logs()}")


def wait_for_run(run_id: str, pool: Workers, timeout: float = 60.0) -> GroupRun:
    """Wait until the run is finished and return it."""

    def finished() -> GroupRun | None:
        run = GroupRun.objects.get(pk=run_id)
        return run if run.status in RUN_TERMINAL else None

    return wait_for(finished, timeout, f"run {run_id} finishing", pool.logs)


def make_group(
    name: str,
    steps: list[dict[str, Any]],
    *,
    execution: str = "parallel",
    max_concurrency: int = 4,
    on_failure: str = "stop",
    timeout_minutes: float | None = None,
) -> GroupDefinition:
    """Save a group of the test pipelines through the storage layer."""
    from pipeline_groups.models import GroupSource
    from pipeline_groups.spec import PipelineGroup
    from pipeline_groups.storage import save_group

    policy: dict[str, Any] = {
        "execution": execution,
        "max_concurrency": max_concurrency,
        "on_failure": on_failure,
    }
    if timeout_minutes is not None:
        policy["timeout_minutes"] = timeout_minutes
    document = {
        "apiVersion": "spine.io/v1",
        "kind": "PipelineGroup",
        "metadata": {"name": name, "domain": "workers_test", "version": 1},
        "spec": {"pipelines": steps, "policy": policy},
    }
    definition, _ = save_group(
        PipelineGroup.from_document(document), source=GroupSource.API
    )
    return definition


def sleep(name: str, seconds: float, *after: str) -> dict[str, Any]:
    """Return a step of the sleeping test pipeline, labelled with its name."""
    return {
        "name": name,
        "pipeline": "workers_test.sleep",
        "depends_on": list(after),
        "params": {"label": name, "seconds": seconds},
    }


def step_rows(run_id: str) -> dict[str, list[GroupRunExecution]]:
    """Every attempt of every step of a run, by step name."""
    rows: dict[str, list[GroupRunExecution]] = {}
    for row in GroupRunExecution.objects.filter(group_run_id=run_id).select_related(
        "execution"
    ):
        rows.setdefault(row.step_name, []).append(row)
    return rows


def step_statuses(run_id: str) -> dict[str, str]:
    """Return the status of each step's latest attempt."""
    return {
        name: max(attempts, key=lambda row: row.attempt).execution.status
        for name, attempts in step_rows(run_id).items()
    }
