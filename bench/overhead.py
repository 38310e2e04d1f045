"""Measure the engine's orchestration overhead per step and its makespan; print JSON.

Run: `.venv/bin/python bench/overhead.py [--backend inline|django_q]
[--database-url URL] [--redis-url URL] [--workload chain|fanout|makespan]
[--repeat N] [--workers N] [--profile FILE]`.

Why: the project persists every transition and must still orchestrate faster
than the established schedulers; this script is the figure that says so or not.

Workloads (issue 4 item 8):
- `chain`: 200 no-op steps, each depending on the one before;
- `fanout`: 200 independent no-op steps at max_concurrency 8;
- `makespan`: 40 independent steps of 50 ms at max_concurrency 4 (ideal 0.5 s).

Overhead per step is the wall time of the run (from `start_run` until the run is
seen finished) minus the time spent inside pipeline bodies, divided by the number
of steps. In a parallel workload bodies overlap, so their time is spread over the
run's concurrency limit (the lanes) before it is subtracted; a no-op body is
microseconds either way. Each body measures itself with `perf_counter`, in
whichever process runs it, and returns `{"body_s": seconds}` as its result; the
bench sums those results from the database after the run, so the same clock
works for threads and for worker processes.

One JSON object per line, per workload and repetition (`repetition` 1..N), then a
line with `repetition` "median": workload, backend, database, broker, steps,
per_step_ms, and makespan_s, ideal_s and ratio where they apply. Also reported:
`cpu_per_step_ms`, the CPU time of this process and of every worker process per
step (the machine is shared: wall time grows with other people's load, CPU time
much less), and `load`, the one-minute load average when the repetition began.

Without --database-url the script uses a fresh SQLite file in a temporary folder
(WAL, IMMEDIATE transactions, as the settings configure). A PostgreSQL database
must exist; it is migrated. The broker is Redis when --redis-url (or REDIS_URL)
is set, else django-q2's ORM broker, polled every --orm-poll seconds (0.01 by
default instead of the settings' 0.05: a chain hop waits for a poll, DESIGN.md
section 7). The django_q backend starts one real `manage.py qcluster` of
--workers processes (default 8, the largest max_concurrency) in its own session
under a unique cluster name, loading this module as SPINE_PIPELINE_MODULES, and
stops it through its main process only. Before the measured repetitions one
untimed warm-up run of 8 steps lets every process open its connections.

--profile writes a cProfile (pstats format) of the last repetition of each
workload to FILE.<workload>, covering every thread of this process; with the
django_q backend each worker process also profiles every task it runs (warm-up
and all repetitions) into FILE.worker.<pid>, rewritten after each task, so the
figures of a profiled run are not the measurement.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline_groups.registry import register_pipeline  # noqa: E402
from tests.workers.cluster import Cluster, ClusterNotReady  # noqa: E402

PIPELINE = "bench.step"
# The module the workers import to register PIPELINE (SPINE_PIPELINE_MODULES).
PIPELINE_MODULE = "bench.overhead"
# In a worker: where to write the profile of the tasks it runs (see --profile).
PROFILE_VARIABLE = "SPINE_BENCH_PROFILE"

WORKLOADS = {
    # name: (steps, shape, execution, max_concurrency, seconds per step)
    "chain": (200, "chain", "sequential", 1, 0.0),
    "fanout": (200, "fanout", "parallel", 8, 0.0),
    "makespan": (40, "fanout", "parallel", 4, 0.05),
}
WARM_UP = (8, "fanout", "parallel", 4, 0.0)
POLL_SECONDS = 0.005


@register_pipeline(PIPELINE)
def bench_step(ctx: Any, seconds: float = 0.0) -> dict[str, float]:
    """Sleep `seconds` (or nothing) and return the time spent in here.

    The result is stored on the execution, which is how the bench learns the
    body time of steps that ran in other processes.
    """
    start = time.perf_counter()
    if seconds:
        time.sleep(seconds)
    return {"body_s": time.perf_counter() - start}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["inline", "django_q"], default="inline")
    parser.add_argument("--database-url", default="")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL", ""),
        help="the django_q backend's broker; default REDIS_URL, else the ORM broker",
    )
    parser.add_argument(
        "--workload",
        action="append",
        choices=sorted(WORKLOADS),
        help="repeatable; default: all three",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--workers",
        type=int,
        default=max(w[3] for w in WORKLOADS.values()),
        help="worker processes of the qcluster (django_q backend)",
    )
    parser.add_argument(
        "--orm-poll",
        type=float,
        default=0.01,
        help="SPINE_ORM_POLL_SECONDS of the qcluster with the ORM broker",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        default="",
        help="write cProfiles to FILE.<workload> (and FILE.worker.<pid>)",
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        help="level of the pipeline_groups loggers (INFO writes every transition)",
    )
    return parser.parse_args()


def _setup(arguments: argparse.Namespace) -> str:
    """Point Django at the chosen database and broker, migrate, return the db kind."""
    if arguments.database_url:
        os.environ["DATABASE_URL"] = arguments.database_url
    else:
        folder = tempfile.mkdtemp(prefix="spine-bench-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{folder}/bench.sqlite3"
    os.environ.pop("REDIS_URL", None)
    if arguments.backend == "django_q" and arguments.redis_url:
        os.environ["REDIS_URL"] = arguments.redis_url
    # This process registers PIPELINE by running this file; importing it again
    # as bench.overhead would register a second function under the same name.
    os.environ.pop("SPINE_PIPELINE_MODULES", None)
    os.environ["SPINE_Q_CLUSTER_NAME"] = f"spine-bench-{uuid.uuid4().hex[:10]}"
    os.environ["SPINE_ORM_POLL_SECONDS"] = str(arguments.orm_poll)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spine_site.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key")
    os.environ["SPINE_LOG_LEVEL"] = arguments.log_level

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]


def _group(workload: str, shape: tuple[int, str, str, int, float]) -> str:
    """Save a group of the given shape under a fresh name and return the name."""
    from pipeline_groups import storage
    from pipeline_groups.models import GroupSource
    from pipeline_groups.spec import ExecutionPolicy, PipelineGroup

    steps, form, execution, concurrency, seconds = shape
    group = PipelineGroup(
        name=f"bench.{workload}_{uuid.uuid4().hex[:8]}",
        domain="bench",
        policy=ExecutionPolicy(execution=execution, max_concurrency=concurrency),
    )
    for index in range(steps):
        depends = [f"s{index - 1}"] if form == "chain" and index else []
        params = {"seconds": seconds} if seconds else {}
        group.add(f"s{index}", PIPELINE, depends, params)
    storage.save_group(group, source=GroupSource.API)
    return group.name


def _run_inline(name: str) -> tuple[str, str]:
    """Drive a run with the inline backend; return its id and final status."""
    from pipeline_groups import engine
    from pipeline_groups.models import Backend, TriggerSource

    run = engine.start_run(
        name, {}, trigger_source=TriggerSource.CLI, backend=Backend.INLINE
    )
    return run.id, engine.run_inline(run).status


def _run_django_q(name: str) -> tuple[str, str]:
    """Start a run on the workers and wait until it is finished."""
    from django.db import connection

    from pipeline_groups import engine
    from pipeline_groups.models import RUN_TERMINAL, Backend, GroupRun, TriggerSource

    run = engine.start_run(
        name, {}, trigger_source=TriggerSource.CLI, backend=Backend.DJANGO_Q
    )
    # A plain statement, not the ORM: this poll shares the two cores with the
    # workers it is timing.
    sql = f"SELECT status FROM {GroupRun._meta.db_table} WHERE id = %s"
    deadline = time.monotonic() + 300
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(sql, [run.id])
            status = cursor.fetchone()[0]
            if status in RUN_TERMINAL:
                return run.id, status
            time.sleep(POLL_SECONDS)
    raise SystemExit(f"bench run {run.id} of {name} did not finish within 300 s")


def _body_seconds(run_id: str) -> float:
    """Add up the body time every step of a run reported in its result."""
    from pipeline_groups.models import Execution

    results = Execution.objects.filter(group_step__group_run_id=run_id).values_list(
        "result", flat=True
    )
    return sum(float((result or {}).get("body_s", 0.0)) for result in results)


# Worker processes.


def _cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of these processes, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


@contextmanager
def start_workers(workers: int, profile: str) -> Iterator[Cluster]:
    """Start a qcluster for the django_q backend, stop it and its queue afterwards.

    It shares this process's database and queue, and loads this module to find
    PIPELINE; it is started and stopped as the worker tests do.
    """
    env = dict(os.environ)
    env.update(
        {
            "SPINE_PIPELINE_MODULES": PIPELINE_MODULE,
            "SPINE_WORKERS": str(workers),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if profile:
        env[PROFILE_VARIABLE] = profile
    log_path = Path(tempfile.mkstemp(prefix="spine-bench-qcluster-")[1])
    cluster = Cluster(env, log_path, workers)
    try:
        try:
            cluster.wait_ready(timeout=60)
        except ClusterNotReady as error:
            raise SystemExit(str(error)) from None
        yield cluster
    finally:
        cluster.stop()
        log_path.unlink(missing_ok=True)
        _delete_queue()


def _delete_queue() -> None:
    """Remove this run's Redis queue (the ORM broker's rows go with the database)."""
    from django.conf import settings

    if settings.REDIS_URL:
        import redis

        redis.Redis.from_url(settings.REDIS_URL).delete(settings.Q_CLUSTER["name"])


def _connect_worker_profiles() -> None:
    """In a qcluster worker, profile every task when the bench asked for it.

    Each worker enables a cProfile around its tasks and writes it after each one,
    so the file is whole whenever the cluster is stopped.
    """
    target = os.environ.get(PROFILE_VARIABLE)
    if not target:
        return
    import cProfile

    from django_q.signals import post_execute_in_worker, pre_execute

    profiler = cProfile.Profile()

    def started(sender: Any, **kwargs: Any) -> None:
        profiler.enable()

    def ended(sender: Any, **kwargs: Any) -> None:
        profiler.disable()
        profiler.dump_stats(f"{target}.worker.{os.getpid()}")

    pre_execute.connect(started, weak=False, dispatch_uid="spine-bench-profile-in")
    post_execute_in_worker.connect(
        ended, weak=False, dispatch_uid="spine-bench-profile-out"
    )


# Measuring.


class ThreadProfiler:
    """cProfile every thread this process starts, plus the calling thread."""

    def __init__(self) -> None:
        import cProfile

        self.main = cProfile.Profile()
        self.threads: list[Any] = []
        self._original = threading.Thread.run

    def __enter__(self) -> ThreadProfiler:
        import cProfile

        original, threads = self._original, self.threads

        def run(thread: threading.Thread) -> None:
            profiler = cProfile.Profile()
            threads.append(profiler)
            profiler.enable()
            try:
                original(thread)
            finally:
                profiler.disable()

        threading.Thread.run = run  # type: ignore[method-assign]
        self.main.enable()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.main.disable()
        threading.Thread.run = self._original  # type: ignore[method-assign]

    def dump(self, path: str) -> None:
        """Write every thread's profile, merged, in pstats format."""
        import pstats

        stats = pstats.Stats(self.main)
        for profiler in self.threads:
            try:
                stats.add(profiler)
            except TypeError:
                continue  # a thread that never ran Python code under the profiler
        stats.dump_stats(path)


def _measure(
    workload: str,
    drive: Callable[[str], tuple[str, str]],
    worker_pids: Callable[[], list[int]],
) -> dict[str, Any]:
    """Run one repetition of a workload; return its figures."""
    shape = WORKLOADS[workload]
    steps, _, execution, concurrency, seconds = shape
    lanes = 1 if execution == "sequential" else concurrency
    name = _group(workload, shape)
    load = os.getloadavg()[0]
    pids = worker_pids()

    cpu_before = time.process_time() + _cpu_seconds(pids)
    started = time.perf_counter()
    run_id, status = drive(name)
    wall = time.perf_counter() - started
    cpu = time.process_time() + _cpu_seconds(pids) - cpu_before

    if status != "completed":
        raise SystemExit(f"bench run {run_id} of {name} ended {status}")
    body = _body_seconds(run_id)
    figures: dict[str, Any] = {
        "steps": steps,
        "per_step_ms": round((wall - body / lanes) / steps * 1000, 3),
        "cpu_per_step_ms": round(cpu / steps * 1000, 3),
        "load": round(load, 2),
    }
    if seconds:
        ideal = steps * seconds / concurrency
        figures["makespan_s"] = round(wall, 3)
        figures["ideal_s"] = round(ideal, 3)
        figures["ratio"] = round(wall / ideal, 3)
    return figures


def _median(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the median of every figure over the repetitions of one workload."""
    summary = dict(lines[0], repetition="median")
    for key in ("per_step_ms", "cpu_per_step_ms", "load", "makespan_s", "ratio"):
        if key in summary:
            summary[key] = round(statistics.median(line[key] for line in lines), 3)
    return summary


def main() -> None:
    """Run every chosen workload `--repeat` times and print one line each."""
    arguments = _arguments()
    database = _setup(arguments)
    from django.conf import settings

    inline = arguments.backend == "inline"
    broker = None if inline else ("redis" if settings.REDIS_URL else "orm")
    drive = _run_inline if inline else _run_django_q
    workers = (
        _nothing() if inline else start_workers(arguments.workers, arguments.profile)
    )
    common: dict[str, Any] = {
        "backend": arguments.backend,
        "database": database,
        "broker": broker,
    }
    if broker == "orm":
        common["orm_poll_s"] = arguments.orm_poll
    if not inline:
        common["workers"] = arguments.workers

    with workers as cluster:
        worker_pids = cluster.pids if cluster is not None else list
        drive(_group("warm_up", WARM_UP))
        for workload in arguments.workload or list(WORKLOADS):
            lines = []
            for repetition in range(1, arguments.repeat + 1):
                profiled = arguments.profile and repetition == arguments.repeat
                profiler = ThreadProfiler() if profiled else None
                if profiler is not None:
                    with profiler:
                        figures = _measure(workload, drive, worker_pids)
                    profiler.dump(f"{arguments.profile}.{workload}")
                else:
                    figures = _measure(workload, drive, worker_pids)
                line = {"workload": workload, **common, **figures}
                lines.append(line)
                print(json.dumps({**line, "repetition": repetition}), flush=True)
            print(json.dumps(_median(lines)), flush=True)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


if __name__ == "__main__":
    main()
else:
    _connect_worker_profiles()
