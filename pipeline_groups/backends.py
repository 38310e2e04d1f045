"""Who runs a ready step: threads in this process, or django-q2 workers.

Both backends sit over the same state machine (`pipeline_groups.engine`) and differ
only in what happens to an execution once it is queued and committed:

- `inline`: an `InlineRunner` owns a small pool of threads in the calling process
  and runs the run's steps there until the run ends (`rungroup`, tests, bench);
- `django_q`: each queued execution becomes one django-q2 task
  (`pipeline_groups.tasks.run_step`), which claims it, runs it and advances the
  run, enqueuing what became ready. One broker object is kept per process and
  passed to `async_task`, which spares a new Redis connection per task.
"""

from __future__ import annotations

import gc
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, connection
from django.utils import timezone

from pipeline_groups.models import RUN_TERMINAL, Backend, RunStatus

if TYPE_CHECKING:
    from pipeline_groups.engine import Claim, Transition

logger = logging.getLogger(__name__)

RUN_STEP_TASK = "pipeline_groups.tasks.run_step"
ADVANCE_RUN_TASK = "pipeline_groups.tasks.advance_run"
# How often an idle inline runner looks at its run again (keys held elsewhere).
IDLE_POLL_SECONDS = 0.25
# How often an inline runner on SQLite checkpoints the write-ahead log itself,
# its lanes having been spared SQLite's automatic checkpoints (`_open_lane`).
CHECKPOINT_SECONDS = 0.25

_runners: dict[str, InlineRunner] = {}
_runners_lock = threading.Lock()


# The process.

_frozen_in: int | None = None


def freeze_loaded_objects() -> None:
    """Keep what the process has loaded out of the garbage collector's passes.

    Django, the app and the pipelines, imported by the time a process runs its
    first step, live as long as the process, yet every full collection walks
    them all: 47 ms on this machine, holding the GIL, so every lane of an inline
    run (or a worker's step) stood still for it. `gc.freeze` sets them aside
    once per process; what is made later is collected as before.
    """
    global _frozen_in
    if _frozen_in == os.getpid():
        return

    _frozen_in = os.getpid()
    gc.freeze()
    logger.debug("Froze %d loaded objects", gc.get_freeze_count())


# django-q2.

_broker: Any = None
_broker_pid: int | None = None
_broker_lock = threading.Lock()


def broker() -> Any:
    """Return this process's django-q2 broker, built once per process."""
    global _broker, _broker_pid
    with _broker_lock:
        if _broker is None or _broker_pid != os.getpid():
            from django_q.brokers import get_broker

            _broker = get_broker()
            _broker_pid = os.getpid()
        return _broker


def _enqueue(task: str, argument: str) -> None:
    """Send one task message; its success is not saved by django-q2.

    The engine records every execution's outcome in its own tables, so django-q2's
    copy is redundant; saving it cost the monitor a pass over every kept result
    (`save_limit`), about 6 ms of CPU per step, inside a write transaction.
    Failed tasks (an engine error) are still saved, where they explain themselves.
    """
    from django_q.tasks import async_task

    async_task(
        task, argument, broker=broker(), task_name=f"{task}:{argument}", save=False
    )


def enqueue_step(execution_id: str) -> None:
    """Hand one queued execution to the django-q2 workers."""
    _enqueue(RUN_STEP_TASK, execution_id)


def enqueue_advance(run_id: str) -> None:
    """Ask the django-q2 workers to advance a run (its first dispatch, a resume)."""
    _enqueue(ADVANCE_RUN_TASK, run_id)


# What the engine calls once a transition has committed.


def after_commit(
    backend: str,
    run_id: str | None,
    dispatched: Sequence[str],
    transitions: Sequence[Transition],
) -> None:
    """Run the newly queued executions and report transitions to an inline caller."""
    runner = _runners.get(run_id) if run_id is not None else None
    if runner is not None and transitions:
        runner.notify(transitions)
    if not dispatched:
        return

    if backend == Backend.INLINE and runner is not None:
        runner.submit(dispatched)
        return
    if backend == Backend.INLINE:
        # The process that drove this run is gone (or never was): let workers
        # pick it up rather than leave the steps queued.
        logger.warning(
            "Run %s: no inline runner in this process; %d steps go to django-q2",
            run_id,
            len(dispatched),
        )
    for execution_id in dispatched:
        enqueue_step(execution_id)


# The inline backend.


class InlineRunner:
    """Run one group run's steps in a pool of threads, until the run ends.

    Each of `lanes` threads runs a claimed step, and finishing it may hand the
    same thread the next step of its lane; what else became ready comes back to
    this runner through `after_commit`. The calling thread only waits, reports
    transitions and handles Ctrl-C.
    """

    def __init__(
        self,
        run_id: str,
        lanes: int,
        on_transition: Callable[[Transition], None] | None = None,
    ) -> None:
        self.run_id = run_id
        self.lanes = lanes
        self.on_transition = on_transition
        # An execution id to claim, a step already claimed for this runner, or
        # None to stop.
        self.work: queue.SimpleQueue[str | Claim | None] = queue.SimpleQueue()
        self.events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.threads: list[threading.Thread] = []
        self.interrupts = 0
        self.deadline: float | None = None
        self.next_checkpoint = 0.0

    # Called from any thread.

    def submit(self, executions: Sequence[str | Claim]) -> None:
        """Queue work for the pool: ids to claim, or claims to run."""
        with self.lock:
            self.in_flight += len(executions)
        for execution in executions:
            self.work.put(execution)

    def notify(self, transitions: Sequence[Transition]) -> None:
        """Pass transitions to the calling thread, which reports them in order."""
        if self.on_transition is not None:
            self.events.put(("transitions", list(transitions)))

    # The pool.

    def _worker(self) -> None:
        from pipeline_groups import engine

        try:
            _open_lane()
            while True:
                work = self.work.get()
                if work is None:
                    return
                current = work if isinstance(work, str) else None
                try:
                    claim = self._take(work)
                    # Each finish may hand this thread the next step of its lane.
                    while claim is not None:
                        current = claim.execution_id
                        claim = engine.run_claimed(claim, take_next=True)
                except Exception as error:
                    logger.exception(
                        "Run %s: execution %s broke the engine",
                        self.run_id,
                        current or "-",
                    )
                    if current is not None:
                        engine.end_execution(
                            current,
                            error=f"engine error: {type(error).__name__}: {error}",
                            event_kind="failed",
                        )
                finally:
                    self._done()
        finally:
            connection.close()

    def _take(self, work: str | Claim) -> Claim | None:
        """Turn a work item into a step this thread owns, or None."""
        from pipeline_groups import engine

        if isinstance(work, str):
            return engine.claim_execution(work)
        return work

    def _done(self) -> None:
        """Count a finished step; wake the calling thread only when none is left.

        The step's own advance has already submitted what became ready, so the
        count drops to zero only when the pool has nothing more to do; waking the
        calling thread for every step would cost a thread switch per step.
        """
        with self.lock:
            self.in_flight -= 1
            idle = self.in_flight <= 0
        if idle:
            self.events.put(("idle", None))

    def _start_threads(self, count: int) -> None:
        for number in range(count):
            thread = threading.Thread(
                target=self._worker,
                name=f"spine-inline-{self.run_id[-6:]}-{number}",
                daemon=True,
            )
            thread.start()
            self.threads.append(thread)

    def _stop_threads(self, wait: bool) -> None:
        for _ in self.threads:
            self.work.put(None)
        if wait:
            for thread in self.threads:
                thread.join()

    # The calling thread.

    def drive(self) -> None:
        """Run the run to its end; re-raises KeyboardInterrupt once it is recorded."""
        freeze_loaded_objects()
        with _runners_lock:
            _runners[self.run_id] = self
        clean = False
        try:
            self._guarded(self._start)
            self._loop()
            clean = True
        finally:
            with _runners_lock:
                _runners.pop(self.run_id, None)
            self._stop_threads(wait=clean and self.interrupts < 2)
            self._drain()
        if self.interrupts:
            raise KeyboardInterrupt

    def _start(self) -> None:
        """Claim a step per lane in the run's first transaction, then start them.

        Ctrl-C is held until the claims are queued and the threads run: falling
        between the commit and the hand-over, it would leave claimed steps that
        no thread runs and that a cancel, which only ends what waits, cannot end.
        """
        from pipeline_groups import engine

        with _interrupts_held():
            self.submit(engine.start_inline(self.run_id, self.lanes))
            self._start_threads(self.lanes)

    def _loop(self) -> None:
        """Turn until the run ends; Ctrl-C anywhere in a turn cancels the run."""
        while self._guarded(self._turn) is not True:
            pass

    def _turn(self) -> bool:
        """Handle one event, or look at the run when idle; True once it ended."""
        timeout = IDLE_POLL_SECONDS
        if self.deadline is not None:
            timeout = max(0.0, min(timeout, self.deadline - time.time()))
        try:
            self._wait(timeout)
        except _Idle:
            status, deadline_at = self._state()
            if status in RUN_TERMINAL:
                return True
            self.deadline = deadline_at.timestamp() if deadline_at else None
            self._advance_when_due()
        self._checkpoint_when_due()
        return False

    def _wait(self, timeout: float) -> None:
        """Handle one event, or raise _Idle when nothing runs (or time passed)."""
        try:
            kind, payload = self.events.get(timeout=timeout)
        except queue.Empty:
            raise _Idle from None
        if kind == "transitions":
            self._report(payload)
            return
        # "idle": the pool ran out of work (or did, before something new came).
        self._drain()
        raise _Idle

    def _checkpoint_when_due(self) -> None:
        """Move SQLite's write-ahead log into the database, off the lanes' path.

        A PASSIVE checkpoint waits for no writer, so the lanes go on committing
        while this thread copies and syncs pages.
        """
        if connection.vendor != "sqlite" or connection.in_atomic_block:
            return
        now = time.monotonic()
        if now < self.next_checkpoint:
            return
        self.next_checkpoint = now + CHECKPOINT_SECONDS
        try:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                busy, frames, moved = cursor.fetchone()
        except DatabaseError as error:
            # The run goes on; the next checkpoint, or another connection's
            # automatic one, moves the log.
            logger.warning("Run %s: checkpoint failed: %s", self.run_id, error)
            return
        logger.debug(
            "Run %s: checkpoint moved %d of %d log frames%s",
            self.run_id,
            moved,
            frames,
            " (busy)" if busy else "",
        )

    def _advance_when_due(self) -> None:
        from pipeline_groups import engine

        with self.lock:
            busy = self.in_flight > 0
        if not busy:
            engine.advance_run(self.run_id)

    def _state(self) -> tuple[str, Any]:
        from pipeline_groups import engine

        row = engine.run_status(self.run_id)
        if row is None:
            return RunStatus.CANCELLED, None
        status, deadline_at = row
        if deadline_at is not None and deadline_at <= timezone.now():
            # Past the deadline something must cancel what waits, even mid-step.
            engine.advance_run(self.run_id)
            deadline_at = None
        return status, deadline_at

    def _report(self, transitions: Sequence[Transition]) -> None:
        if self.on_transition is None:
            return
        for transition in transitions:
            self.on_transition(transition)

    def _drain(self) -> None:
        while True:
            try:
                kind, payload = self.events.get_nowait()
            except queue.Empty:
                return
            if kind == "transitions":
                self._report(payload)

    def _guarded(self, action: Callable[[], Any]) -> Any:
        """Run a step of the loop; Ctrl-C cancels the run, a second one forces it."""
        try:
            return action()
        except KeyboardInterrupt:
            self.interrupts += 1
            self._interrupted()
            return None

    def _interrupted(self) -> None:
        from pipeline_groups import engine
        from pipeline_groups.exceptions import RunFinishedError

        if self.interrupts == 1:
            logger.warning("Run %s interrupted: cancelling it", self.run_id)
            try:
                engine.cancel_run(self.run_id, requested_by="Ctrl-C")
            except RunFinishedError:
                pass
            return

        logger.warning(
            "Run %s interrupted twice: recording running steps as cancelled",
            self.run_id,
        )
        from pipeline_groups.models import EventKind, Execution, StepStatus

        running = Execution.objects.filter(
            group_step__group_run_id=self.run_id, status=StepStatus.RUNNING
        ).values_list("id", flat=True)
        for execution_id in list(running):
            engine.end_execution(
                execution_id,
                status=StepStatus.CANCELLED,
                error="cancelled: interrupted before the step finished",
                event_kind=EventKind.CANCELLED,
            )
        with self.lock:
            self.in_flight = 0


def _open_lane() -> None:
    """Connect a lane thread to the database before it takes a step.

    Connecting in the first finish would open the file inside SQLite's write
    lock, with the other lanes waiting. And on SQLite the lane is spared the
    automatic checkpoint: the commit that crosses the log's threshold (1,000
    pages) would copy and sync the log into the database, 5 to 40 ms on this
    machine's disk, while every other lane waits for the lock. The runner's
    calling thread checkpoints instead (`InlineRunner._checkpoint_when_due`).
    """
    connection.ensure_connection()
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint = 0")


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C until the block ends, then deliver it as it would have been.

    Only the main thread receives signals, and only there can a handler be set;
    elsewhere there is nothing to hold.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: held.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held:
        signal.raise_signal(signal.SIGINT)


class _Idle(Exception):
    """Nothing of the run is in this runner's hands right now."""
