"""The one state machine of group runs and executions (DESIGN.md section 4).

A step with no attempt yet is `pending`. Dispatching a step inserts its execution
`queued`, the link row that claims the attempt and a `queued` event, in the same
transaction as whatever made it ready. A worker claims a queued execution with a
conditional update (`WHERE id = %s AND status = 'queued'`), so a task delivered
twice runs its body once. Ending an execution is another conditional update, and in
that same transaction the run advances: its row is locked, the latest attempt of
every step is read in one query, ready steps are dispatched per the policy, steps
that can no longer run are skipped or cancelled, and the run's aggregate status is
written with its own precondition. Advancing is idempotent: doing it twice changes
nothing the second time.

The backend that runs a ready step is told only after the transaction commits
(`transaction.on_commit`), so a worker never sees a row that is not there yet.

The hot path (dispatch, claim, finish, advance) speaks SQL through Django's cursor
instead of the ORM: about a quarter of a millisecond per statement is ORM overhead
(DESIGN.md section 7), and a step needs about ten statements. The SQL is portable
between SQLite and PostgreSQL, except where PostgreSQL saves round trips: a claim
and its event, and a transition's inserts, are one statement each there (WITH).
On SQLite the writers of one process queue on a lock rather than in SQLite's
sleeping busy handler. The ORM stays everywhere else.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import socket
import threading
import time
import traceback as traceback_module
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from pipeline_groups import backends
from pipeline_groups.context import ExecutionContext
from pipeline_groups.exceptions import (
    DeadLetterNotFoundError,
    DeadLetterReplayedError,
    ExecutionNotFoundError,
    GroupInactiveError,
    PipelineNotFoundError,
    RunFinishedError,
    RunNotFoundError,
    RunNotRetryableError,
)
from pipeline_groups.models import (
    STEP_ACTIVE,
    STEP_RETRYABLE,
    STEP_TERMINAL,
    Backend,
    DeadLetter,
    EventKind,
    Execution,
    GroupRun,
    GroupRunExecution,
    RunStatus,
    StepStatus,
    TriggerSource,
    new_batch_id,
    new_ulid,
)
from pipeline_groups.registry import PipelineInfo, get_pipeline

logger = logging.getLogger(__name__)

EXECUTIONS = Execution._meta.db_table
LINKS = GroupRunExecution._meta.db_table
EVENTS = "execution_events"
RUNS = GroupRun._meta.db_table
DEAD_LETTERS = DeadLetter._meta.db_table

PENDING = StepStatus.PENDING.value
QUEUED = StepStatus.QUEUED.value
RUNNING = StepStatus.RUNNING.value
COMPLETED = StepStatus.COMPLETED.value
FAILED = StepStatus.FAILED.value
SKIPPED = StepStatus.SKIPPED.value
CANCELLED = StepStatus.CANCELLED.value

# Statuses that block a step downstream under `on_failure: continue`.
_BLOCKING = frozenset({FAILED, SKIPPED, CANCELLED})
# How often a step waiting for a logical key looks again at claim time.
_KEY_POLL_SECONDS = 0.2
# Rows per multi-row INSERT, kept under SQLite's limit on bound variables.
_MAX_VARIABLES = 900
_WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"


# The plan as the engine reads it: parsed once per process, since it is frozen.


@dataclass
class PlanStep:
    """One planned step with what the engine derives from it once."""

    index: int
    name: str
    pipeline_name: str
    params: dict[str, Any]
    depends_on: tuple[str, ...]
    sequence_order: int
    param_sources: dict[str, str]
    dependency_indexes: tuple[int, ...] = ()
    _prepared: bool = field(default=False, repr=False)
    _accepted: dict[str, Any] = field(default_factory=dict, repr=False)
    _key: str | None = field(default=None, repr=False)

    def prepare(self) -> None:
        """Work out the params the pipeline accepts and its rendered logical key."""
        if self._prepared:
            return
        try:
            info = get_pipeline(self.pipeline_name)
        except PipelineNotFoundError:
            # The step fails when it runs, with the registry's own message.
            self._accepted = dict(self.params)
        else:
            self._accepted = info.select(self.params)
            self._key = render_logical_key(info, self._accepted)
        self._prepared = True

    @property
    def accepted_params(self) -> dict[str, Any]:
        """The merged params the step's pipeline accepts, as stored on executions."""
        self.prepare()
        return self._accepted

    @property
    def logical_key(self) -> str | None:
        """The pipeline's logical key rendered from the step's params, if any."""
        self.prepare()
        return self._key


@dataclass
class RunPlan:
    """A frozen plan: steps in plan order and the policy that drives them."""

    steps: list[PlanStep]
    execution: str
    max_concurrency: int
    on_failure: str
    timeout_minutes: float | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunPlan:
        """Read the plan JSON that `ExecutionPlan.to_json` wrote on the run."""
        raw_steps = sorted(data.get("steps", []), key=lambda s: s["sequence_order"])
        steps = [
            PlanStep(
                index=index,
                name=item["step_name"],
                pipeline_name=item["pipeline_name"],
                params=dict(item.get("params") or {}),
                depends_on=tuple(item.get("depends_on") or ()),
                sequence_order=int(item["sequence_order"]),
                param_sources=dict(item.get("param_sources") or {}),
            )
            for index, item in enumerate(raw_steps)
        ]
        position = {step.name: step.index for step in steps}
        for step in steps:
            step.dependency_indexes = tuple(position[d] for d in step.depends_on)

        policy = data.get("policy") or {}
        timeout = policy.get("timeout_minutes")
        return cls(
            steps=steps,
            execution=policy.get("execution", "sequential"),
            max_concurrency=max(1, int(policy.get("max_concurrency", 4))),
            on_failure=policy.get("on_failure", "stop"),
            timeout_minutes=None if timeout is None else float(timeout),
        )

    @property
    def concurrency_limit(self) -> int:
        """How many steps may be queued or running at once."""
        return 1 if self.execution == "sequential" else self.max_concurrency

    def downstream_of(self, index: int) -> set[int]:
        """Every step that depends on step `index`, directly or transitively."""
        found: set[int] = set()
        for step in self.steps[index + 1 :]:
            if any(d == index or d in found for d in step.dependency_indexes):
                found.add(step.index)
        return found


_plan_cache: dict[str, RunPlan] = {}
_plan_cache_lock = threading.Lock()
_PLAN_CACHE_SIZE = 512


def render_logical_key(info: PipelineInfo, params: dict[str, Any]) -> str | None:
    """Render a pipeline's logical key template; None when it has none or cannot."""
    if not info.logical_key:
        return None
    try:
        return info.logical_key.format(**params)
    except (KeyError, IndexError, ValueError, AttributeError):
        logger.warning(
            "Pipeline %s: logical key %r cannot be rendered from params %s; "
            "the execution runs without a key",
            info.name,
            info.logical_key,
            sorted(params),
        )
        return None


def _cached_plan(run_id: str, plan_json: Any | None) -> RunPlan | None:
    with _plan_cache_lock:
        plan = _plan_cache.get(run_id)
    if plan is not None or plan_json is None:
        return plan

    plan = RunPlan.from_json(_json_value(plan_json))
    with _plan_cache_lock:
        if len(_plan_cache) >= _PLAN_CACHE_SIZE:
            _plan_cache.clear()
        _plan_cache[run_id] = plan
    return plan


def plan_of(run: GroupRun) -> RunPlan:
    """Return the engine's view of a run's frozen plan."""
    return _cached_plan(run.id, run.plan) or RunPlan.from_json(run.plan)


# Small SQL helpers: values in the form the database driver expects.


def _db_time(value: datetime | None) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _db_json(value: Any) -> Any:
    if value is None:
        return None
    return connection.ops.adapt_json_value(value, DjangoJSONEncoder)


def _json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _parse_time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        if isinstance(value, datetime) and timezone.is_naive(value):
            return value.replace(tzinfo=UTC)
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def _insert_rows(
    cursor: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert many rows in as few statements as the driver allows."""
    if not rows:
        return
    per_statement = max(1, _MAX_VARIABLES // len(columns))
    row_sql = f"({_placeholders(len(columns))})"
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        values = ", ".join([row_sql] * len(chunk))
        flat = [value for row in chunk for value in row]
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}", flat
        )


# Bound values one combined PostgreSQL insert may carry before it is split up.
_MAX_COMBINED_VALUES = 20_000


def _insert_together(
    cursor: Any, tables: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Any]]]]
) -> bool:
    """On PostgreSQL, insert into several tables in one statement (one round trip).

    Each table but the last is a data-modifying WITH clause; PostgreSQL runs every
    one of them to completion. The foreign keys Django creates there are deferred
    to the commit, so the order inside the statement does not matter. Returns
    False (nothing written) where this does not apply: SQLite, which has no
    INSERT in WITH, one table or fewer, or more rows than one statement should bind.
    """
    filled = [(table, columns, rows) for table, columns, rows in tables if rows]
    if connection.vendor != "postgresql" or len(filled) < 2:
        return False
    if sum(len(columns) * len(rows) for _, columns, rows in filled) > (
        _MAX_COMBINED_VALUES
    ):
        return False
    statements = []
    values: list[Any] = []
    for table, columns, rows in filled:
        row_sql = f"({_placeholders(len(columns))})"
        statements.append(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES {', '.join([row_sql] * len(rows))}"
        )
        values.extend(value for row in rows for value in row)
    clauses = ", ".join(
        f"inserted_{number} AS ({statement})"
        for number, statement in enumerate(statements[:-1])
    )
    cursor.execute(f"WITH {clauses} {statements[-1]}", values)
    return True


def _for_update() -> str:
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


# SQLite lets one writer in at a time, and a connection that finds the write lock
# taken sleeps in SQLite's busy handler (1, 2, 5, 10 ms and more) before it looks
# again: with four inline threads finishing steps at once, those sleeps summed to
# 30-40 ms over 40 steps. The threads of one process queue on this lock instead
# and get the database as soon as the writer before them commits. Re-entrant,
# since on-commit callbacks (waking key waiters) may start another transaction.
# Other processes still meet the busy handler; PostgreSQL needs none of this.
_sqlite_writers = threading.RLock()


@contextmanager
def _write_transaction() -> Iterator[None]:
    """Open an atomic block; on SQLite, after this process's other writers."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        # Nested, the outer block already holds (or waits for) the write lock.
        with transaction.atomic():
            yield
        return
    with _sqlite_writers, transaction.atomic():
        yield


# What one transaction writes, collected and flushed together.


@dataclass
class Transition:
    """One step changing status, as the inline backend reports it to a caller."""

    run_id: str | None
    step_name: str | None
    execution_id: str
    attempt: int
    status: str
    at: datetime
    duration_seconds: float | None = None
    message: str = ""


_EXECUTION_COLUMNS = (
    "id",
    "pipeline_name",
    "params",
    "status",
    "trigger_source",
    "batch_id",
    "logical_key",
    "created_at",
    "queued_at",
    "started_at",
    "heartbeat_at",
    "completed_at",
    "worker",
    "error",
    "traceback",
)
# Where each column stands in a row of `_Writes.executions`.
_COLUMN = {name: number for number, name in enumerate(_EXECUTION_COLUMNS)}
_LINK_COLUMNS = (
    "group_run_id",
    "execution_id",
    "step_name",
    "sequence_order",
    "attempt",
)
_EVENT_COLUMNS = ("execution_id", "kind", "created_at", "message")
_DEAD_LETTER_COLUMNS = ("id", "execution_id", "pipeline_name", "error", "created_at")


class _Writes:
    """The inserts of one transaction, flushed as one statement per table."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.db_now = _db_time(now)
        self.executions: list[tuple[Any, ...]] = []
        self.links: list[tuple[Any, ...]] = []
        self.events: list[tuple[Any, ...]] = []
        self.dead_letters: list[tuple[Any, ...]] = []
        self.transitions: list[Transition] = []
        self.dispatched: list[str] = []

    def event(self, execution_id: str, kind: str, message: str = "") -> None:
        """Append a timeline line for an execution."""
        self.events.append((execution_id, kind, self.db_now, message))

    def new_attempt(
        self, run: _RunState, step: PlanStep, status: str, error: str = ""
    ) -> tuple[str, int]:
        """Add an execution of a step as its next attempt in the run; say which."""
        execution_id = new_ulid()
        attempt = run.attempts[step.index].attempt + 1
        db_now = self.db_now
        self.executions.append(
            (
                execution_id,
                step.pipeline_name,
                _db_json(step.accepted_params),
                status,
                run.trigger_source,
                run.batch_id,
                step.logical_key,
                db_now,
                db_now if status == QUEUED else None,
                None,
                None,
                db_now if status in STEP_TERMINAL else None,
                "",
                error,
                "",
            )
        )
        self.links.append((run.id, execution_id, step.name, step.index, attempt))
        return execution_id, attempt

    def start_new(self, execution_id: str) -> bool:
        """Make a queued execution this transaction adds running, in this process.

        Nobody else can have seen it, so there is no claim to race; only an
        execution without a logical key qualifies, as a key is checked at claim.
        """
        for number, row in enumerate(self.executions):
            if row[_COLUMN["id"]] != execution_id:
                continue
            keyed = row[_COLUMN["logical_key"]] is not None
            if keyed or row[_COLUMN["status"]] != QUEUED:
                return False
            started = list(row)
            started[_COLUMN["status"]] = RUNNING
            started[_COLUMN["started_at"]] = self.db_now
            started[_COLUMN["heartbeat_at"]] = self.db_now
            started[_COLUMN["worker"]] = _WORKER_NAME
            self.executions[number] = tuple(started)
            self.event(execution_id, EventKind.STARTED, _WORKER_NAME)
            return True
        return False

    def flush(self, cursor: Any) -> None:
        """Write everything collected, parents before children."""
        tables = [
            (EXECUTIONS, _EXECUTION_COLUMNS, self.executions),
            (LINKS, _LINK_COLUMNS, self.links),
            (EVENTS, _EVENT_COLUMNS, self.events),
            (DEAD_LETTERS, _DEAD_LETTER_COLUMNS, self.dead_letters),
        ]
        if not _insert_together(cursor, tables):
            for table, columns, rows in tables:
                _insert_rows(cursor, table, columns, rows)
        self.executions, self.links, self.events, self.dead_letters = [], [], [], []


# The run as one transition sees it.


class _Attempt(NamedTuple):
    """The latest attempt of one step; immutable, so a state change replaces it."""

    execution_id: str | None
    attempt: int
    status: str


# Every step without an attempt yet shares this one value.
_NO_ATTEMPT = _Attempt(None, 0, PENDING)


@dataclass
class _RunState:
    id: str
    status: str
    trigger_source: str
    batch_id: str
    backend: str
    started_at: datetime | None
    deadline_at: datetime | None
    cancel_requested_at: datetime | None
    error: str
    plan: RunPlan
    attempts: list[_Attempt]

    @property
    def statuses(self) -> list[str]:
        return [attempt.status for attempt in self.attempts]


def _load_run(cursor: Any, run_id: str, *, lock: bool = True) -> _RunState:
    """Read (and on PostgreSQL lock) a run and the latest attempt of every step."""
    cached = _cached_plan(run_id, None)
    columns = (
        "status, trigger_source, batch_id, backend, started_at, deadline_at, "
        "cancel_requested_at, error"
    )
    if cached is None:
        columns += ", plan"
    cursor.execute(
        f"SELECT {columns} FROM {RUNS} WHERE id = %s" + (_for_update() if lock else ""),
        [run_id],
    )
    row = cursor.fetchone()
    if row is None:
        raise RunNotFoundError(run_id)
    plan = cached or _cached_plan(run_id, row[8])

    # In attempt order, so the latest attempt of a step is the one kept; this runs
    # on every transition and reads a row per started step, so it stays lean.
    cursor.execute(
        f"SELECT l.step_name, l.execution_id, l.attempt, e.status FROM {LINKS} l "
        f"JOIN {EXECUTIONS} e ON e.id = l.execution_id WHERE l.group_run_id = %s "
        "ORDER BY l.attempt",
        [run_id],
    )
    latest = {link[0]: link for link in cursor.fetchall()}
    attempts = [_NO_ATTEMPT] * len(plan.steps)
    if latest:
        for step in plan.steps:
            link = latest.get(step.name)
            if link is not None:
                attempts[step.index] = _Attempt(link[1], link[2], link[3])
    return _RunState(
        id=run_id,
        status=row[0],
        trigger_source=row[1],
        batch_id=row[2],
        backend=row[3],
        started_at=_parse_time(row[4]),
        deadline_at=_parse_time(row[5]),
        cancel_requested_at=_parse_time(row[6]),
        error=row[7],
        plan=plan,
        attempts=attempts,
    )


# Moving one step, inside the caller's transaction.


def _queue_step(cursor: Any, run: _RunState, step: PlanStep, writes: _Writes) -> None:
    """Dispatch a pending step: a new attempt, or the pending one a retry made."""
    current = run.attempts[step.index]
    if current.execution_id is not None and current.status == PENDING:
        cursor.execute(
            f"UPDATE {EXECUTIONS} SET status = %s, queued_at = %s "
            "WHERE id = %s AND status = %s",
            [QUEUED, writes.db_now, current.execution_id, PENDING],
        )
        if cursor.rowcount != 1:
            return
        execution_id, attempt = current.execution_id, current.attempt
    else:
        execution_id, attempt = writes.new_attempt(run, step, QUEUED)

    writes.event(execution_id, EventKind.QUEUED)
    writes.dispatched.append(execution_id)
    writes.transitions.append(
        Transition(run.id, step.name, execution_id, attempt, QUEUED, writes.now)
    )
    run.attempts[step.index] = _Attempt(execution_id, attempt, QUEUED)
    logger.info(
        "Run %s step %s queued (execution %s, attempt %d)",
        run.id,
        step.name,
        execution_id,
        attempt,
    )


def _end_unstarted_step(
    cursor: Any,
    run: _RunState,
    step: PlanStep,
    status: str,
    reason: str,
    writes: _Writes,
) -> None:
    """Skip or cancel a step that never ran: pending (with or without a row) or queued.

    A never-dispatched step still gets an execution, so the API and the timeline can
    say what happened to it and why.
    """
    current = run.attempts[step.index]
    if current.execution_id is not None and current.status in (PENDING, QUEUED):
        cursor.execute(
            f"UPDATE {EXECUTIONS} SET status = %s, completed_at = %s, error = %s "
            "WHERE id = %s AND status = %s",
            [status, writes.db_now, reason, current.execution_id, current.status],
        )
        if cursor.rowcount != 1:
            # A worker claimed it in the meantime; it runs and ends by itself.
            run.attempts[step.index] = _Attempt(
                current.execution_id, current.attempt, RUNNING
            )
            return
        execution_id, attempt = current.execution_id, current.attempt
    else:
        execution_id, attempt = writes.new_attempt(run, step, status, reason)

    writes.event(execution_id, status, reason)
    writes.transitions.append(
        Transition(
            run.id,
            step.name,
            execution_id,
            attempt,
            status,
            writes.now,
            message=reason,
        )
    )
    run.attempts[step.index] = _Attempt(execution_id, attempt, status)
    log = logger.warning if status == SKIPPED else logger.info
    log("Run %s step %s %s: %s", run.id, step.name, status, reason)


def _reason_blocked(run: _RunState, step: PlanStep, roots: dict[int, str]) -> str:
    """Name the upstream failure that blocks a step under `continue`."""
    for index in step.dependency_indexes:
        status = run.attempts[index].status
        if status == FAILED:
            return f"skipped because {run.plan.steps[index].name} failed"
        if status in (SKIPPED, CANCELLED) and index in roots:
            return f"skipped because {roots[index]} failed"
    for index in step.dependency_indexes:
        status = run.attempts[index].status
        if status in (SKIPPED, CANCELLED):
            return f"skipped because {run.plan.steps[index].name} was {status}"
    return "skipped because an upstream step did not complete"


# Advancing a run: everything that follows from the statuses of its steps.


def _advance(cursor: Any, run: _RunState, writes: _Writes) -> None:
    """Dispatch, skip or cancel what the run's state calls for, then aggregate."""
    if run.status in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED):
        return

    plan = run.plan
    now = writes.now
    timed_out = run.deadline_at is not None and now >= run.deadline_at
    if run.cancel_requested_at is not None or timed_out:
        reason = (
            "cancelled: the run was cancelled"
            if run.cancel_requested_at is not None
            else "cancelled: the run timed out"
        )
        for step in plan.steps:
            if run.attempts[step.index].status in (PENDING, QUEUED):
                _end_unstarted_step(cursor, run, step, CANCELLED, reason, writes)
    else:
        failed = None
        if plan.on_failure == "stop" and FAILED in run.statuses:
            failed = next(
                s for s in plan.steps if run.attempts[s.index].status == FAILED
            )
        if failed is not None:
            reason = f"skipped because {failed.name} failed and the policy is stop"
            for step in plan.steps:
                if run.attempts[step.index].status in (PENDING, QUEUED):
                    _end_unstarted_step(cursor, run, step, SKIPPED, reason, writes)
        else:
            _skip_blocked(cursor, run, writes)
            _dispatch_ready(cursor, run, writes)

    _aggregate(cursor, run, writes, timed_out)


def _skip_blocked(cursor: Any, run: _RunState, writes: _Writes) -> None:
    if _BLOCKING.isdisjoint(run.statuses):
        return  # nothing failed, was skipped or cancelled: nothing is blocked
    roots: dict[int, str] = {}
    for step in run.plan.steps:
        if run.attempts[step.index].status != PENDING:
            continue
        if not any(
            run.attempts[i].status in _BLOCKING for i in step.dependency_indexes
        ):
            continue
        reason = _reason_blocked(run, step, roots)
        roots[step.index] = reason.removeprefix("skipped because ").split(" ")[0]
        _end_unstarted_step(cursor, run, step, SKIPPED, reason, writes)


def ready_steps(run_plan: RunPlan, statuses: Sequence[str]) -> list[PlanStep]:
    """Pending steps whose upstream steps all completed, in plan order."""
    ready = []
    for step in run_plan.steps:
        if statuses[step.index] != PENDING:
            continue
        if all(statuses[i] == COMPLETED for i in step.dependency_indexes):
            ready.append(step)
        elif run_plan.execution == "sequential":
            break
    return ready


def _held_keys(cursor: Any, keys: Iterable[str]) -> dict[str, tuple[str, str | None]]:
    """Which of these logical keys a queued or running execution holds, and who."""
    keys = sorted(set(keys))
    if not keys:
        return {}
    cursor.execute(
        f"SELECT e.logical_key, e.id, l.group_run_id FROM {EXECUTIONS} e "
        f"LEFT JOIN {LINKS} l ON l.execution_id = e.id "
        f"WHERE e.logical_key IN ({_placeholders(len(keys))}) "
        "AND e.status IN (%s, %s)",
        [*keys, QUEUED, RUNNING],
    )
    return {key: (execution_id, run_id) for key, execution_id, run_id in cursor}


def _dispatch_ready(cursor: Any, run: _RunState, writes: _Writes) -> None:
    plan = run.plan
    active = sum(1 for status in run.statuses if status in STEP_ACTIVE)
    slots = plan.concurrency_limit - active
    if slots <= 0:
        return
    ready = ready_steps(plan, run.statuses)
    if not ready:
        return

    # The logical-key guard: a key held by a queued or running execution anywhere
    # (this run included) makes the step wait.
    held = _held_keys(cursor, (s.logical_key for s in ready if s.logical_key))
    for step in ready:
        if slots <= 0:
            break
        key = step.logical_key
        if key is not None and key in held:
            if plan.execution == "sequential":
                break
            continue
        _queue_step(cursor, run, step, writes)
        if key is not None:
            held[key] = (run.attempts[step.index].execution_id or "", run.id)
        slots -= 1


def _aggregate(cursor: Any, run: _RunState, writes: _Writes, timed_out: bool) -> None:
    """Write the run's status per RFC 3.6.2, with its precondition."""
    statuses = run.statuses
    started_at = run.started_at
    deadline_at = run.deadline_at
    completed_at = None
    error = run.error

    if all(status in STEP_TERMINAL for status in statuses):
        if run.cancel_requested_at is not None:
            status = RunStatus.CANCELLED.value
            error = error or "the run was cancelled"
        elif timed_out or any(s != COMPLETED for s in statuses):
            status = RunStatus.FAILED.value
            error = _run_error(cursor, run, timed_out)
        else:
            status = RunStatus.COMPLETED.value
            error = ""
        completed_at = writes.now
        started_at = started_at or writes.now
    elif started_at is None and not any(s != PENDING for s in statuses):
        status = RunStatus.PENDING.value
    else:
        status = RunStatus.RUNNING.value
        if started_at is None:
            started_at = writes.now
            if run.plan.timeout_minutes is not None and deadline_at is None:
                deadline_at = writes.now + timedelta(minutes=run.plan.timeout_minutes)

    if (status, started_at, deadline_at) == (
        run.status,
        run.started_at,
        run.deadline_at,
    ):
        return
    cursor.execute(
        f"UPDATE {RUNS} SET status = %s, started_at = %s, deadline_at = %s, "
        "completed_at = %s, error = %s WHERE id = %s AND status = %s",
        [
            status,
            _db_time(started_at),
            _db_time(deadline_at),
            _db_time(completed_at),
            error,
            run.id,
            run.status,
        ],
    )
    if cursor.rowcount != 1:
        logger.warning(
            "Run %s: status changed under the engine; %s not written", run.id, status
        )
        return
    if status != run.status:
        log = logger.warning if status == RunStatus.FAILED else logger.info
        log("Run %s %s%s", run.id, status, f": {error}" if error else "")
    run.status, run.started_at, run.deadline_at = status, started_at, deadline_at


def _run_error(cursor: Any, run: _RunState, timed_out: bool) -> str:
    if timed_out:
        minutes = run.plan.timeout_minutes or 0
        return f"the run timed out after {minutes:g} minutes"
    failed = [
        (step, run.attempts[step.index])
        for step in run.plan.steps
        if run.attempts[step.index].status == FAILED
    ]
    if not failed:
        cancelled = [
            s.name for s in run.plan.steps if run.attempts[s.index].status == CANCELLED
        ]
        if cancelled:
            return "step " + ", ".join(cancelled) + " cancelled"
        return run.error or "a step did not complete"
    step, attempt = failed[0]
    cursor.execute(
        f"SELECT error FROM {EXECUTIONS} WHERE id = %s", [attempt.execution_id]
    )
    row = cursor.fetchone()
    first = f"step {step.name} failed: {row[0] if row else ''}".rstrip(": ")
    if len(failed) > 1:
        others = ", ".join(s.name for s, _ in failed[1:])
        first += f" (also failed: {others})"
    return first


def _after_commit(run: _RunState | None, writes: _Writes) -> None:
    """Tell the backend what to run and the inline caller what changed, on commit."""
    if not writes.dispatched and not writes.transitions:
        return
    run_id = run.id if run is not None else None
    backend = run.backend if run is not None else Backend.INLINE.value
    dispatched = list(writes.dispatched)
    transitions = list(writes.transitions)
    transaction.on_commit(
        lambda: backends.after_commit(backend, run_id, dispatched, transitions)
    )


def advance_run(run_id: str) -> list[str]:
    """Move a run on from its current state; returns the executions dispatched.

    Idempotent: a second call with nothing changed in between writes nothing.
    """
    with _write_transaction():
        cursor = connection.cursor()
        run = _load_run(cursor, run_id)
        writes = _Writes(timezone.now())
        _advance(cursor, run, writes)
        writes.flush(cursor)
        _after_commit(run, writes)
    return list(writes.dispatched)


def start_inline(run_id: str, lanes: int) -> list[Claim]:
    """Advance an inline run and claim up to `lanes` of what it dispatched, at once.

    The inline runner's first transaction: its threads start with a step each in
    hand instead of claiming them one after another, which on SQLite would queue
    them behind each other's commits before the first body could begin. What is
    dispatched but not claimed here (a logical key held elsewhere, more steps
    than lanes) goes to the runner as usual.
    """
    with _write_transaction():
        cursor = connection.cursor()
        run = _load_run(cursor, run_id)
        writes = _Writes(timezone.now())
        _advance(cursor, run, writes)
        inline = run.backend == Backend.INLINE
        claims = _own_dispatched(cursor, run, writes, lanes if inline else 0)
        _after_commit(run, writes)

    for claim in claims:
        _report_claim(claim)
    return claims


# Running one step: claim, call the pipeline, finish and advance.


@dataclass
class Claim:
    """A step this thread owns: running, with what its body needs to know."""

    execution_id: str
    pipeline_name: str
    params: dict[str, Any]
    batch_id: str
    logical_key: str | None
    started_at: datetime
    run_id: str | None = None
    step_name: str | None = None
    attempt: int = 0
    deadline_at: datetime | None = None
    cancel_requested: bool = False


@dataclass
class _Outcome:
    status: str
    result: Any = None
    error: str = ""
    traceback: str = ""


# The claim and what the worker needs to know about the step, in one statement:
# the link and the run are read through scalar subqueries of RETURNING (SQLite
# 3.35+ and PostgreSQL both allow them), which saves a round trip per step.
_LINK_OF_CLAIMED = f"FROM {LINKS} l WHERE l.execution_id = {EXECUTIONS}.id"
_RUN_OF_CLAIMED = (
    f"FROM {LINKS} l JOIN {RUNS} r ON r.id = l.group_run_id "
    f"WHERE l.execution_id = {EXECUTIONS}.id"
)
_CLAIM_SET = (
    f"UPDATE {EXECUTIONS} SET status = %s, started_at = %s, "
    "heartbeat_at = %s, worker = %s WHERE id = %s AND status = %s "
)
# A keyed execution waits while another execution of its key runs.
_CLAIM_KEYED = (
    "AND (logical_key IS NULL OR NOT EXISTS "
    f"(SELECT 1 FROM {EXECUTIONS} other WHERE other.logical_key = "
    f"{EXECUTIONS}.logical_key AND other.status = %s AND other.id <> %s)) "
)
_CLAIM_RETURNING = (
    "RETURNING id, pipeline_name, params, batch_id, logical_key, "
    f"(SELECT l.group_run_id {_LINK_OF_CLAIMED}) AS run_id, "
    f"(SELECT l.step_name {_LINK_OF_CLAIMED}) AS step_name, "
    f"(SELECT l.attempt {_LINK_OF_CLAIMED}) AS attempt, "
    f"(SELECT r.deadline_at {_RUN_OF_CLAIMED}) AS deadline_at, "
    f"(SELECT r.cancel_requested_at {_RUN_OF_CLAIMED}) AS cancel_requested_at"
)
_CLAIM_SQL = _CLAIM_SET + _CLAIM_KEYED + _CLAIM_RETURNING
_STARTED_SQL = (
    f"INSERT INTO {EVENTS} (execution_id, kind, created_at, message) "
    "VALUES (%s, %s, %s, %s)"
)
# PostgreSQL: the claim and its `started` event in one statement. An execution
# without a key is tried first without the key's lock and check, which a keyed one
# then gets (`_pg_claim`).
_PG_STARTED = (
    f"started AS (INSERT INTO {EVENTS} (execution_id, kind, created_at, message) "
    "SELECT %s, %s, %s, %s FROM claimed)"
)
_PG_CLAIM_UNKEYED_SQL = (
    f"WITH claimed AS ({_CLAIM_SET}AND logical_key IS NULL {_CLAIM_RETURNING}), "
    f"{_PG_STARTED} SELECT * FROM claimed"
)
_PG_CLAIM_SQL = f"WITH claimed AS ({_CLAIM_SQL}), {_PG_STARTED} SELECT * FROM claimed"


def _claim_row(cursor: Any, execution_id: str, now: datetime) -> Claim | None:
    """Claim a queued execution inside the caller's transaction; None if taken."""
    db_now = _db_time(now)
    claim_values = [RUNNING, db_now, db_now, _WORKER_NAME, execution_id, QUEUED]
    started_values = [execution_id, EventKind.STARTED.value, db_now, _WORKER_NAME]
    if connection.vendor == "postgresql":
        row = _pg_claim(cursor, execution_id, claim_values, started_values)
    else:
        cursor.execute(_CLAIM_SQL, [*claim_values, RUNNING, execution_id])
        row = cursor.fetchone()
        if row is not None:
            cursor.execute(_STARTED_SQL, started_values)
    if row is None:
        return None
    return Claim(
        execution_id=execution_id,
        pipeline_name=row[1],
        params=_json_value(row[2]) or {},
        batch_id=row[3],
        logical_key=row[4],
        started_at=now,
        run_id=row[5],
        step_name=row[6],
        attempt=row[7] or 0,
        deadline_at=_parse_time(row[8]),
        cancel_requested=row[9] is not None,
    )


def _report_claim(claim: Claim) -> None:
    """Tell an inline caller and the log that a claimed step is running."""
    if claim.run_id is not None:
        transition = Transition(
            claim.run_id,
            claim.step_name,
            claim.execution_id,
            claim.attempt,
            RUNNING,
            claim.started_at,
        )
        backends.after_commit(Backend.INLINE.value, claim.run_id, [], [transition])
    logger.info(
        "Run %s step %s running (execution %s, pipeline %s)",
        claim.run_id or "-",
        claim.step_name or "-",
        claim.execution_id,
        claim.pipeline_name,
    )


def _try_claim(execution_id: str) -> Claim | None:
    """Move a queued execution to running; None when someone else has it."""
    now = timezone.now()
    with _write_transaction():
        claim = _claim_row(connection.cursor(), execution_id, now)
    if claim is not None:
        _report_claim(claim)
    return claim


def _pg_claim(
    cursor: Any,
    execution_id: str,
    claim_values: list[Any],
    started_values: list[Any],
) -> tuple[Any, ...] | None:
    """Claim on PostgreSQL: the claimed row, its event written, or None."""
    cursor.execute(_PG_CLAIM_UNKEYED_SQL, [*claim_values, *started_values])
    row = cursor.fetchone()
    if row is not None:
        return row
    # Keyed (or no longer queued): serialise with the key's other claims first.
    _lock_logical_key(cursor, execution_id)
    cursor.execute(
        _PG_CLAIM_SQL, [*claim_values, RUNNING, execution_id, *started_values]
    )
    return cursor.fetchone()


def _lock_logical_key(cursor: Any, execution_id: str) -> None:
    """On PostgreSQL, serialise claims of one logical key with an advisory lock.

    One statement: the lock is taken only for the row that has a key.
    """
    cursor.execute(
        f"SELECT pg_advisory_xact_lock(hashtext(logical_key)) FROM {EXECUTIONS} "
        "WHERE id = %s AND logical_key IS NOT NULL AND logical_key <> ''",
        [execution_id],
    )


def claim_execution(execution_id: str) -> Claim | None:
    """Claim a queued execution for this thread; None when it is not to be had.

    Waits while another execution holds its logical key.
    """
    waited_since = time.monotonic()
    limit = float(getattr(settings, "SPINE_STEP_TIMEOUT_SECONDS", 3600))
    while True:
        claim = _try_claim(execution_id)
        if claim is not None:
            return claim

        row = (
            Execution.objects.filter(pk=execution_id)
            .values_list("status", "logical_key")
            .first()
        )
        if row is None:
            raise ExecutionNotFoundError(execution_id)
        status, key = row
        if status != QUEUED or key is None:
            logger.info(
                "Execution %s not claimed: it is %s, not queued", execution_id, status
            )
            return None
        if time.monotonic() - waited_since > limit:
            logger.warning(
                "Execution %s still waits for logical key %s after %.0f s; left "
                "queued for the reaper",
                execution_id,
                key,
                limit,
            )
            return None
        time.sleep(_KEY_POLL_SECONDS)


def _run_body(claim: Claim) -> _Outcome:
    """Call the pipeline and say how it ended; never raises for the pipeline."""
    watch = CancelWatch(claim)
    context = ExecutionContext(
        execution_id=claim.execution_id,
        batch_id=claim.batch_id,
        params=dict(claim.params),
        logger=logging.getLogger(f"pipeline_groups.pipeline.{claim.pipeline_name}"),
        cancel_check=watch.check,
    )
    heartbeat.register(claim.execution_id, claim.run_id, watch)
    try:
        info = get_pipeline(claim.pipeline_name)
        result = info.call(context, claim.params)
    except Exception as error:
        if watch.seen:
            return _Outcome(CANCELLED, error=watch.reason)
        logger.exception(
            "Run %s step %s failed (execution %s)",
            claim.run_id or "-",
            claim.step_name or "-",
            claim.execution_id,
        )
        return _Outcome(
            FAILED,
            error=f"{type(error).__name__}: {error}",
            traceback=traceback_module.format_exc(),
        )
    finally:
        heartbeat.unregister(claim.execution_id)

    if watch.seen:
        return _Outcome(CANCELLED, result=_storable(result), error=watch.reason)
    return _Outcome(COMPLETED, result=_storable(result))


def _storable(result: Any) -> Any:
    try:
        json.dumps(result, cls=DjangoJSONEncoder)
    except (TypeError, ValueError):
        return {"repr": repr(result)}
    return result


def _finish(
    claim: Claim, outcome: _Outcome, *, take_next: bool = False
) -> tuple[str, Claim | None]:
    """End a running execution and advance its run, in one transaction.

    With `take_next`, an inline run's thread also claims, in that same
    transaction, one step the advance dispatched, and returns its claim to run
    next itself: a lane of a parallel run then costs one transaction per step
    instead of two, and no hand-off to the pool.
    """
    now = timezone.now()
    duration = (now - claim.started_at).total_seconds()
    with _write_transaction():
        cursor = connection.cursor()
        run = _load_run(cursor, claim.run_id) if claim.run_id else None
        writes = _Writes(now)
        ended = _end_running(cursor, claim, outcome, writes, duration)
        if run is not None:
            if ended:
                index = next(
                    s.index for s in run.plan.steps if s.name == claim.step_name
                )
                run.attempts[index] = _Attempt(
                    claim.execution_id, claim.attempt, outcome.status
                )
            _advance(cursor, run, writes)
        take_next = take_next and run is not None and run.backend == Backend.INLINE
        owned = _own_dispatched(cursor, run, writes, 1 if take_next else 0)
        _after_commit(run, writes)

    following = owned[0] if owned else None
    if following is not None:
        _report_claim(following)
    if claim.logical_key:
        transaction.on_commit(lambda: wake_key_waiters(claim.logical_key, claim.run_id))
    status = outcome.status if ended else _current_status(claim.execution_id)
    return status, following


def _own_dispatched(
    cursor: Any, run: _RunState | None, writes: _Writes, count: int
) -> list[Claim]:
    """Flush the writes, owning up to `count` of the steps they dispatch.

    For the inline runner's threads: steps without a key are written running as
    they are flushed; the rest are claimed (with the key's check) once written.
    What is not owned stays in `writes.dispatched` for the backend.
    """
    claims: list[Claim] = []
    while run is not None and len(claims) < count:
        claim = _start_dispatched(run, writes)
        if claim is None:
            break
        claims.append(claim)
    writes.flush(cursor)
    for execution_id in list(writes.dispatched):
        if len(claims) >= count:
            break
        claim = _claim_row(cursor, execution_id, timezone.now())
        if claim is not None:
            writes.dispatched.remove(execution_id)
            claims.append(claim)
    return claims


def _start_dispatched(run: _RunState, writes: _Writes) -> Claim | None:
    """Start one step this transaction dispatched and has not written yet.

    It is written as running, with its queued and its started event, which
    saves the claim's statements; the caller's thread runs it.
    """
    for execution_id in writes.dispatched:
        if not writes.start_new(execution_id):
            continue
        writes.dispatched.remove(execution_id)
        step = next(
            s
            for s in run.plan.steps
            if run.attempts[s.index].execution_id == execution_id
        )
        attempt = run.attempts[step.index].attempt
        run.attempts[step.index] = _Attempt(execution_id, attempt, RUNNING)
        return Claim(
            execution_id=execution_id,
            pipeline_name=step.pipeline_name,
            params=copy.deepcopy(step.accepted_params),
            batch_id=run.batch_id,
            logical_key=None,
            started_at=writes.now,
            run_id=run.id,
            step_name=step.name,
            attempt=attempt,
            deadline_at=run.deadline_at,
            cancel_requested=run.cancel_requested_at is not None,
        )
    return None


def _end_running(
    cursor: Any,
    claim: Claim,
    outcome: _Outcome,
    writes: _Writes,
    duration: float,
) -> bool:
    cursor.execute(
        f"UPDATE {EXECUTIONS} SET status = %s, completed_at = %s, result = %s, "
        "error = %s, traceback = %s WHERE id = %s AND status = %s",
        [
            outcome.status,
            writes.db_now,
            _db_json(outcome.result),
            outcome.error,
            outcome.traceback,
            claim.execution_id,
            RUNNING,
        ],
    )
    if cursor.rowcount != 1:
        logger.warning(
            "Run %s step %s: execution %s was no longer running when it ended %s; "
            "its outcome is not recorded",
            claim.run_id or "-",
            claim.step_name or "-",
            claim.execution_id,
            outcome.status,
        )
        return False

    writes.event(claim.execution_id, outcome.status, outcome.error)
    if outcome.status == FAILED:
        writes.dead_letters.append(
            (
                new_ulid(),
                claim.execution_id,
                claim.pipeline_name,
                outcome.error,
                writes.db_now,
            )
        )
    writes.transitions.append(
        Transition(
            claim.run_id,
            claim.step_name,
            claim.execution_id,
            claim.attempt,
            outcome.status,
            writes.now,
            duration_seconds=round(duration, 3),
            message=outcome.error,
        )
    )
    log = logger.info if outcome.status == COMPLETED else logger.warning
    log(
        "Run %s step %s %s in %.3f s (execution %s)%s",
        claim.run_id or "-",
        claim.step_name or "-",
        outcome.status,
        duration,
        claim.execution_id,
        f": {outcome.error}" if outcome.error else "",
    )
    return True


def _current_status(execution_id: str) -> str:
    return (
        Execution.objects.filter(pk=execution_id)
        .values_list("status", flat=True)
        .first()
        or ""
    )


def execute_step(execution_id: str) -> str | None:
    """Claim, run and finish one queued execution, then advance its run.

    Returns the execution's final status, or None when it was not claimed (another
    worker has it, or it is no longer queued): a duplicate task is a no-op.
    """
    claim = claim_execution(execution_id)
    if claim is None:
        return None
    outcome = _run_body(claim)
    return _finish(claim, outcome)[0]


def run_status(run_id: str) -> tuple[str, datetime | None] | None:
    """Return a run's status and deadline, or None; one lean query for pollers."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT status, deadline_at FROM {RUNS} WHERE id = %s", [run_id]
        )
        row = cursor.fetchone()
    return None if row is None else (row[0], _parse_time(row[1]))


def run_claimed(claim: Claim, *, take_next: bool = False) -> Claim | None:
    """Run a claimed execution and finish it; maybe return the next one to run.

    With `take_next` (the inline backend's threads), the returned claim is a
    step that finishing this one made ready and that this thread now owns.
    """
    outcome = _run_body(claim)
    return _finish(claim, outcome, take_next=take_next)[1]


def wake_key_waiters(key: str, except_run_id: str | None = None) -> None:
    """Advance the active runs whose plan has a step waiting for a freed key."""
    candidates = GroupRun.objects.filter(status=RunStatus.RUNNING).values_list(
        "id", "plan"
    )
    for run_id, plan_json in candidates:
        if run_id == except_run_id:
            continue
        plan = _cached_plan(run_id, plan_json)
        if plan is not None and any(s.logical_key == key for s in plan.steps):
            advance_run(run_id)


# Cancel requests and heartbeats, seen by the running pipeline.


_local_cancels: set[str] = set()


class CancelWatch:
    """Answer `ctx.cancel_requested` for one running step, without a query.

    The run's deadline is known at claim time; a cancel request reaches the flag
    through the heartbeat thread, or at once when it was made in this process.
    """

    def __init__(self, claim: Claim) -> None:
        self.run_id = claim.run_id
        self.deadline = (
            claim.deadline_at.timestamp() if claim.deadline_at is not None else None
        )
        self.flag = threading.Event()
        if claim.cancel_requested:
            self.flag.set()
        self.seen = False
        self.reason = ""

    def check(self) -> bool:
        """Whether the step should stop; remembered once it says yes."""
        if self.flag.is_set() or (
            self.run_id is not None and self.run_id in _local_cancels
        ):
            self.reason = "cancelled: the run was cancelled while the step ran"
        elif self.deadline is not None and time.time() >= self.deadline:
            self.reason = "cancelled: the run timed out while the step ran"
        else:
            return False
        self.seen = True
        return True


class Heartbeat:
    """One thread per process that beats for every running execution in it.

    Every SPINE_HEARTBEAT_SECONDS it writes `heartbeat_at` for the executions this
    process runs and reads their runs' cancel requests into each step's flag. The
    thread ends when nothing runs, closing its database connection.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[str, tuple[str | None, CancelWatch]] = {}
        self.thread: threading.Thread | None = None
        self.wake = threading.Event()

    def register(
        self, execution_id: str, run_id: str | None, watch: CancelWatch
    ) -> None:
        """Beat for an execution from now until it is unregistered."""
        with self.lock:
            self.running[execution_id] = (run_id, watch)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(
                    target=self._loop, name="spine-heartbeat", daemon=True
                )
                self.thread.start()

    def unregister(self, execution_id: str) -> None:
        """Stop beating for an execution that ended."""
        with self.lock:
            self.running.pop(execution_id, None)

    def _loop(self) -> None:
        interval = float(getattr(settings, "SPINE_HEARTBEAT_SECONDS", 10.0))
        try:
            while True:
                self.wake.wait(interval)
                self.wake.clear()
                with self.lock:
                    running = dict(self.running)
                    if not running:
                        self.thread = None
                        return
                try:
                    self.beat(running)
                except Exception:
                    logger.exception("Heartbeat of %d executions failed", len(running))
                    connection.close()
        finally:
            connection.close()

    def beat(self, running: dict[str, tuple[str | None, CancelWatch]]) -> None:
        """Write the heartbeat and refresh the cancel flags, in two statements."""
        now = timezone.now()
        ids = list(running)
        Execution.objects.filter(pk__in=ids, status=StepStatus.RUNNING).update(
            heartbeat_at=now
        )
        run_ids = {run_id for run_id, _ in running.values() if run_id}
        cancelled = set(
            GroupRun.objects.filter(
                pk__in=run_ids, cancel_requested_at__isnull=False
            ).values_list("id", flat=True)
        )
        for run_id, watch in running.values():
            if run_id in cancelled:
                watch.flag.set()


heartbeat = Heartbeat()


# Starting, cancelling and resuming runs.


def _run_or_raise(run_id: str) -> GroupRun:
    try:
        return GroupRun.objects.get(pk=run_id)
    except GroupRun.DoesNotExist:
        raise RunNotFoundError(run_id) from None


def start_run(
    group_name: str,
    params: dict[str, Any],
    *,
    trigger_source: str,
    created_by: str = "",
    backend: str = Backend.DJANGO_Q,
) -> GroupRun:
    """Resolve and freeze a group's plan and create its run, `pending`.

    With the django_q backend the first advance is enqueued once the run is
    committed; inline runs are driven by `run_inline`. Raises GroupNotFoundError,
    GroupInactiveError and the planner's PlanResolutionError subclasses, having
    recorded nothing.
    """
    from pipeline_groups import storage
    from pipeline_groups.planner import PlanResolver

    storage.ensure_synced()
    definition = storage.get_definition(group_name)
    if not definition.is_active:
        raise GroupInactiveError(group_name)
    group = storage.group_from_definition(definition)
    plan = PlanResolver().resolve(group, params)

    with _write_transaction():
        run = GroupRun.objects.create(
            group=definition,
            group_name=definition.name,
            group_version=plan.group_version,
            params=plan.params,
            status=RunStatus.PENDING,
            trigger_source=trigger_source,
            backend=backend,
            batch_id=plan.batch_id,
            plan=plan.to_json(),
            created_by=created_by,
        )
        if backend == Backend.DJANGO_Q:
            run_id = run.id
            transaction.on_commit(lambda: backends.enqueue_advance(run_id))
    logger.info(
        "Run %s of group %s v%s created (%d steps, backend %s, by %s)",
        run.id,
        run.group_name,
        run.group_version,
        len(plan.steps),
        backend,
        created_by or trigger_source,
    )
    return run


def run_inline(
    run: GroupRun,
    on_transition: Callable[[Transition], None] | None = None,
    max_workers: int | None = None,
) -> GroupRun:
    """Drive a run to its end with threads in this process; blocking.

    `on_transition` is called in the calling thread for every step transition this
    process makes. KeyboardInterrupt cancels the run, waits for running steps to
    notice, and is raised again once the run is recorded as cancelled.
    """
    if run.backend != Backend.INLINE:
        GroupRun.objects.filter(pk=run.pk).update(backend=Backend.INLINE)
        run.backend = Backend.INLINE
    lanes = max_workers or plan_of(run).concurrency_limit
    backends.InlineRunner(run.id, lanes, on_transition).drive()
    # The plan is frozen, and can be large: read back only what the run changed.
    run.refresh_from_db(fields=_RUN_STATE_FIELDS)
    return run


_RUN_STATE_FIELDS = [
    field.attname for field in GroupRun._meta.concrete_fields if field.name != "plan"
]


def cancel_run(run_id: str, *, requested_by: str = "") -> GroupRun:
    """Ask a run to stop: pending and queued steps end at once, running ones see it.

    Raises RunFinishedError for a run that already finished.
    """
    now = timezone.now()
    with _write_transaction():
        cursor = connection.cursor()
        run = _load_run(cursor, run_id)
        if run.status in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED):
            raise RunFinishedError(run_id, run.status)
        writes = _Writes(now)
        if run.cancel_requested_at is None:
            cursor.execute(
                f"UPDATE {RUNS} SET cancel_requested_at = %s WHERE id = %s "
                "AND cancel_requested_at IS NULL",
                [writes.db_now, run_id],
            )
            run.cancel_requested_at = now
            who = f" by {requested_by}" if requested_by else ""
            for attempt in run.attempts:
                if attempt.status == RUNNING and attempt.execution_id:
                    writes.event(
                        attempt.execution_id,
                        EventKind.CANCEL_REQUESTED,
                        f"cancel requested{who}",
                    )
            logger.info("Run %s cancel requested%s", run_id, who)
        _local_cancels.add(run_id)
        _advance(cursor, run, writes)
        writes.flush(cursor)
        _after_commit(run, writes)
    return _run_or_raise(run_id)


def _reset_steps(
    cursor: Any, run: _RunState, indexes: Iterable[int], writes: _Writes
) -> dict[int, str]:
    """Give each step a new, pending attempt; returns the new execution ids."""
    created: dict[int, str] = {}
    for index in sorted(set(indexes)):
        step = run.plan.steps[index]
        current = run.attempts[index]
        if current.status not in STEP_RETRYABLE:
            continue
        execution_id, attempt = writes.new_attempt(run, step, PENDING)
        writes.transitions.append(
            Transition(run.id, step.name, execution_id, attempt, PENDING, writes.now)
        )
        run.attempts[index] = _Attempt(execution_id, attempt, PENDING)
        created[index] = execution_id
        logger.info(
            "Run %s step %s pending again (attempt %d)", run.id, step.name, attempt
        )
    return created


def _reopen(cursor: Any, run: _RunState, writes: _Writes, backend: str | None) -> None:
    """Put a finished run back to running, with a fresh deadline."""
    deadline = (
        writes.now + timedelta(minutes=run.plan.timeout_minutes)
        if run.plan.timeout_minutes is not None
        else None
    )
    new_backend = backend or run.backend
    cursor.execute(
        f"UPDATE {RUNS} SET status = %s, completed_at = NULL, error = '', "
        "cancel_requested_at = NULL, deadline_at = %s, backend = %s, "
        "started_at = COALESCE(started_at, %s) WHERE id = %s AND status = %s",
        [
            RunStatus.RUNNING.value,
            _db_time(deadline),
            new_backend,
            writes.db_now,
            run.id,
            run.status,
        ],
    )
    _local_cancels.discard(run.id)
    logger.info("Run %s resumed (was %s)", run.id, run.status)
    run.status = RunStatus.RUNNING.value
    run.error = ""
    run.cancel_requested_at = None
    run.deadline_at = deadline
    run.backend = new_backend
    run.started_at = run.started_at or writes.now


def _mark_replayed(
    cursor: Any, run: _RunState, old: list[_Attempt], created: dict[int, str], now: Any
) -> None:
    """Mark the dead letters of the attempts a resume replaced as replayed."""
    for index, new_id in created.items():
        previous = old[index]
        if previous.status != FAILED or previous.execution_id is None:
            continue
        cursor.execute(
            f"UPDATE {DEAD_LETTERS} SET replayed_at = %s, replay_execution_id = %s "
            "WHERE execution_id = %s AND replayed_at IS NULL",
            [now, new_id, previous.execution_id],
        )


def retry_run(
    run_id: str, *, requested_by: str = "", backend: str | None = None
) -> GroupRun:
    """Resume a finished, unsuccessful run in place.

    Every failed, skipped and cancelled step gets a new attempt; completed steps
    never run again and every earlier attempt stays in the history. `backend`
    says who runs the resumed steps (default django_q; `run_inline` for inline).
    Raises RunNotRetryableError for a run still active or completed.
    """
    with _write_transaction():
        cursor = connection.cursor()
        run = _load_run(cursor, run_id)
        if run.status not in (RunStatus.FAILED, RunStatus.CANCELLED):
            raise RunNotRetryableError(run_id, run.status)
        writes = _Writes(timezone.now())
        old = list(run.attempts)
        retryable = [
            i
            for i, attempt in enumerate(run.attempts)
            if attempt.status in STEP_RETRYABLE
        ]
        _reopen(cursor, run, writes, backend or Backend.DJANGO_Q)
        created = _reset_steps(cursor, run, retryable, writes)
        writes.flush(cursor)
        _mark_replayed(cursor, run, old, created, writes.db_now)
        if run.backend == Backend.DJANGO_Q:
            transaction.on_commit(lambda: backends.enqueue_advance(run_id))
        _after_commit(run, writes)
    who = f" by {requested_by}" if requested_by else ""
    logger.info("Run %s retried%s: %d steps run again", run_id, who, len(created))
    return _run_or_raise(run_id)


def replay_dead_letter(
    dead_letter_id: str, *, backend: str | None = None
) -> DeadLetter:
    """Replay a failed execution: resume its run in place, or run it again alone.

    A group step gets a new attempt, and the steps its failure had blocked become
    pending again; the run's status is recomputed. A lone execution is run again as
    a new execution. Raises DeadLetterNotFoundError and DeadLetterReplayedError.
    """
    letter = (
        DeadLetter.objects.select_related("execution").filter(pk=dead_letter_id).first()
    )
    if letter is None:
        raise DeadLetterNotFoundError(dead_letter_id)
    if letter.replayed_at is not None:
        raise DeadLetterReplayedError(dead_letter_id, letter.replay_execution_id)

    link = (
        GroupRunExecution.objects.filter(execution_id=letter.execution_id)
        .values_list("group_run_id", "step_name")
        .first()
    )
    if link is None:
        return _replay_lone(letter, backend or Backend.DJANGO_Q)
    _replay_step(letter, link[0], link[1], backend)
    letter.refresh_from_db()
    return letter


def _replay_step(
    letter: DeadLetter, run_id: str, step_name: str, backend: str | None
) -> None:
    with _write_transaction():
        cursor = connection.cursor()
        run = _load_run(cursor, run_id)
        writes = _Writes(timezone.now())
        step = next(s for s in run.plan.steps if s.name == step_name)
        current = run.attempts[step.index]
        if current.execution_id != letter.execution_id:
            # The step was retried since; this letter's attempt is history.
            cursor.execute(
                f"UPDATE {DEAD_LETTERS} SET replayed_at = %s, "
                "replay_execution_id = %s WHERE id = %s AND replayed_at IS NULL",
                [writes.db_now, current.execution_id, letter.id],
            )
            return

        blocked = {
            i
            for i in run.plan.downstream_of(step.index)
            if run.attempts[i].status in (SKIPPED, CANCELLED)
        }
        if run.plan.on_failure == "stop":
            blocked |= {i for i, a in enumerate(run.attempts) if a.status == SKIPPED}
        old = list(run.attempts)
        finished = run.status in (
            RunStatus.COMPLETED,
            RunStatus.FAILED,
            RunStatus.CANCELLED,
        )
        if finished:
            _reopen(cursor, run, writes, backend or Backend.DJANGO_Q)
        created = _reset_steps(cursor, run, {step.index, *blocked}, writes)
        if not finished:
            _advance(cursor, run, writes)
        writes.flush(cursor)
        _mark_replayed(cursor, run, old, created, writes.db_now)
        if finished and run.backend == Backend.DJANGO_Q:
            transaction.on_commit(lambda: backends.enqueue_advance(run_id))
        _after_commit(run, writes)
    logger.info(
        "Run %s step %s replayed from dead letter %s", run_id, step_name, letter.id
    )


def _replay_lone(letter: DeadLetter, backend: str) -> DeadLetter:
    old = letter.execution
    with _write_transaction():
        updated = DeadLetter.objects.filter(pk=letter.pk, replayed_at__isnull=True)
        execution = _create_lone(
            old.pipeline_name, dict(old.params), TriggerSource.REPLAY, old.logical_key
        )
        if updated.update(replayed_at=timezone.now(), replay_execution=execution) != 1:
            raise DeadLetterReplayedError(letter.id, None)
        if backend == Backend.DJANGO_Q:
            execution_id = execution.id
            transaction.on_commit(lambda: backends.enqueue_step(execution_id))
    logger.info("Dead letter %s replayed as execution %s", letter.id, execution.id)
    if backend == Backend.INLINE:
        execute_step(execution.id)
    letter.refresh_from_db()
    return letter


# Lone executions.


def _create_lone(
    name: str, params: dict[str, Any], trigger_source: str, key: str | None
) -> Execution:
    now = timezone.now()
    execution = Execution.objects.create(
        pipeline_name=name,
        params=params,
        status=StepStatus.QUEUED,
        trigger_source=trigger_source,
        batch_id=new_batch_id(f"pipeline_{name}"),
        logical_key=key,
        queued_at=now,
    )
    execution.events.create(kind=EventKind.QUEUED, created_at=now)
    logger.info("Execution %s of pipeline %s queued", execution.id, name)
    return execution


def run_pipeline(
    name: str,
    params: dict[str, Any],
    *,
    trigger_source: str,
    created_by: str = "",
    backend: str = Backend.DJANGO_Q,
) -> Execution:
    """Run one pipeline on its own, outside any group.

    Raises PipelineNotFoundError or PipelineParameterError before recording
    anything. Inline runs in the calling thread and returns the finished execution;
    django_q returns it queued.
    """
    info = get_pipeline(name)
    problem = info.check(params, strict=list(params))
    if problem is not None:
        raise problem
    accepted = info.select(params)

    with _write_transaction():
        execution = _create_lone(
            name, accepted, trigger_source, render_logical_key(info, accepted)
        )
        if backend == Backend.DJANGO_Q:
            execution_id = execution.id
            transaction.on_commit(lambda: backends.enqueue_step(execution_id))
    if created_by:
        logger.info("Execution %s requested by %s", execution.id, created_by)
    if backend == Backend.INLINE:
        execute_step(execution.id)
        execution.refresh_from_db()
    return execution


# Reaper hooks (pipeline_groups.reaper calls these).


def end_execution(
    execution_id: str,
    *,
    status: str = FAILED,
    error: str = "worker lost",
    event_kind: str = EventKind.REAPED,
    expected: str = RUNNING,
) -> bool:
    """End an execution the engine cannot hear from, and advance its run.

    For the reaper: a running execution whose heartbeat went stale fails with
    "worker lost" and lands in the dead-letter queue. Returns whether this call
    moved it (False when it had already moved on).
    """
    now = timezone.now()
    link = (
        GroupRunExecution.objects.filter(execution_id=execution_id)
        .values_list("group_run_id", flat=True)
        .first()
    )
    with _write_transaction():
        cursor = connection.cursor()
        run = _load_run(cursor, link) if link else None
        writes = _Writes(now)
        cursor.execute(
            f"UPDATE {EXECUTIONS} SET status = %s, completed_at = %s, error = %s "
            "WHERE id = %s AND status = %s RETURNING pipeline_name",
            [status, writes.db_now, error, execution_id, expected],
        )
        row = cursor.fetchone()
        if row is None:
            return False
        writes.event(execution_id, event_kind, error)
        if status == FAILED:
            writes.dead_letters.append(
                (new_ulid(), execution_id, row[0], error, writes.db_now)
            )
        if run is not None:
            for index, attempt in enumerate(run.attempts):
                if attempt.execution_id == execution_id:
                    run.attempts[index] = _Attempt(
                        execution_id, attempt.attempt, status
                    )
                    writes.transitions.append(
                        Transition(
                            run.id,
                            run.plan.steps[index].name,
                            execution_id,
                            attempt.attempt,
                            status,
                            now,
                            message=error,
                        )
                    )
            _advance(cursor, run, writes)
        writes.flush(cursor)
        _after_commit(run, writes)
    logger.warning(
        "Execution %s of run %s %s: %s", execution_id, link or "-", status, error
    )
    return True


def redispatch(execution_id: str) -> bool:
    """Hand a queued execution to its backend again (a broker may have lost it).

    The claim makes a second delivery harmless. Returns False when the execution
    is no longer queued.
    """
    with _write_transaction():
        if not Execution.objects.filter(pk=execution_id, status=QUEUED).exists():
            return False
        Execution.objects.get(pk=execution_id).events.create(
            kind=EventKind.REDISPATCHED
        )
        transaction.on_commit(lambda: backends.enqueue_step(execution_id))
    logger.warning("Execution %s re-dispatched: it stayed queued", execution_id)
    return True


# Describing runs: what every step is doing, and why.


@dataclass
class StepView:
    """One step of a run as people see it (the latest attempt)."""

    step_name: str
    pipeline_name: str
    status: str
    execution_id: str | None
    attempt: int
    started_at: datetime | None
    completed_at: datetime | None
    duration_seconds: float | None
    error: str
    reason: str
    depends_on: list[str]
    param_sources: dict[str, str]
    params: dict[str, Any]
    sequence_order: int
    logical_key: str | None = None


@dataclass
class RunView:
    """A run with its aggregated status and every step, in plan order."""

    run: GroupRun
    status: str
    steps: list[StepView]
    counts: dict[str, int]

    @property
    def id(self) -> str:
        """The run's id."""
        return self.run.id

    @property
    def policy(self) -> dict[str, Any]:
        """The frozen plan's policy."""
        return dict(self.run.plan.get("policy") or {})

    @property
    def progress(self) -> str:
        """`done/total` steps that reached a terminal status."""
        done = sum(self.counts.get(s, 0) for s in STEP_TERMINAL)
        return f"{done}/{len(self.steps)}"


_EXECUTION_FIELDS = (
    "group_run_id",
    "step_name",
    "attempt",
    "execution_id",
    "execution__status",
    "execution__started_at",
    "execution__completed_at",
    "execution__error",
    "execution__logical_key",
)


def describe_run(run: GroupRun) -> RunView:
    """Return a run's steps with statuses, timings and reasons; two queries at most."""
    return describe_runs([run])[0]


def describe_runs(runs: Sequence[GroupRun]) -> list[RunView]:
    """Describe many runs in a fixed number of queries (for lists)."""
    runs = list(runs)
    if not runs:
        return []
    rows = GroupRunExecution.objects.filter(
        group_run_id__in=[run.id for run in runs]
    ).values_list(*_EXECUTION_FIELDS)
    latest: dict[tuple[str, str], tuple[Any, ...]] = {}
    for row in rows:
        known = latest.get((row[0], row[1]))
        if known is None or row[2] > known[2]:
            latest[(row[0], row[1])] = row

    plans = {run.id: plan_of(run) for run in runs}
    keys = set()
    for run in runs:
        if run.status not in (RunStatus.PENDING, RunStatus.RUNNING):
            continue
        for step in plans[run.id].steps:
            row = latest.get((run.id, step.name))
            if step.logical_key and (row is None or row[4] == PENDING):
                keys.add(step.logical_key)
    holders = _key_holders(keys)
    return [_view(run, plans[run.id], latest, holders) for run in runs]


def _key_holders(keys: set[str]) -> dict[str, tuple[str, str | None]]:
    if not keys:
        return {}
    rows = Execution.objects.filter(
        logical_key__in=keys, status__in=[QUEUED, RUNNING]
    ).values_list("logical_key", "id", "group_step__group_run_id")
    return {key: (execution_id, run_id) for key, execution_id, run_id in rows}


def _view(
    run: GroupRun,
    plan: RunPlan,
    latest: dict[tuple[str, str], tuple[Any, ...]],
    holders: dict[str, tuple[str, str | None]],
) -> RunView:
    rows = [latest.get((run.id, step.name)) for step in plan.steps]
    statuses = [row[4] if row else PENDING for row in rows]
    active = [s.name for s in plan.steps if statuses[s.index] in STEP_ACTIVE]
    steps = []
    for step, row in zip(plan.steps, rows, strict=True):
        status = statuses[step.index]
        started, completed = (row[5], row[6]) if row else (None, None)
        duration = None
        if started is not None:
            end = completed or timezone.now()
            duration = round((end - started).total_seconds(), 3)
        steps.append(
            StepView(
                step_name=step.name,
                pipeline_name=step.pipeline_name,
                status=status,
                execution_id=row[3] if row else None,
                attempt=row[2] if row else 0,
                started_at=started,
                completed_at=completed,
                duration_seconds=duration,
                error=(row[7] if row else "") or "",
                reason=_reason(run, plan, step, statuses, row, active, holders),
                depends_on=list(step.depends_on),
                param_sources=dict(step.param_sources),
                params=dict(step.params),
                sequence_order=step.sequence_order,
                logical_key=(row[8] if row else None) or step.logical_key,
            )
        )
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return RunView(run=run, status=run.status, steps=steps, counts=counts)


def _reason(
    run: GroupRun,
    plan: RunPlan,
    step: PlanStep,
    statuses: list[str],
    row: tuple[Any, ...] | None,
    active: list[str],
    holders: dict[str, tuple[str, str | None]],
) -> str:
    """Say why a step is where it is, in the words of DESIGN.md section 4."""
    status = statuses[step.index]
    error = (row[7] if row else "") or ""
    if status == RUNNING:
        return "running"
    if status == COMPLETED:
        return "completed"
    if status in (FAILED, SKIPPED, CANCELLED):
        return error or status
    if status == QUEUED:
        return "queued: waiting for a worker to pick it up"
    if run.status in (RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.COMPLETED):
        return "not run: the run has finished"

    waiting = [
        plan.steps[i].name for i in step.dependency_indexes if statuses[i] != COMPLETED
    ]
    if waiting:
        return "waiting for " + ", ".join(waiting)
    if plan.execution == "sequential":
        earlier = [
            s.name
            for s in plan.steps[: step.index]
            if statuses[s.index] not in STEP_TERMINAL
        ]
        if earlier:
            return f"waiting for {earlier[0]} (sequential: one step at a time)"
    if len(active) >= plan.concurrency_limit:
        return (
            f"concurrency {len(active)}/{plan.concurrency_limit} held by "
            + ", ".join(active)
        )
    key = step.logical_key
    if key is not None and key in holders:
        execution_id, holder_run = holders[key]
        if holder_run is not None:
            return f"logical key {key} held by run {holder_run}"
        return f"logical key {key} held by execution {execution_id}"
    if run.status == RunStatus.PENDING:
        return "waiting for the run to start"
    return "ready: about to be queued"
