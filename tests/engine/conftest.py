"""Throwaway pipelines and groups for the engine tests, run inline for real.

The inline backend runs steps in threads, each with its own database connection,
so these tests commit for real (`transaction=True`), which on SQLite gives the
session a file database (tests/conftest.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pipeline_groups import engine
from pipeline_groups.models import Backend, GroupRun, GroupSource, TriggerSource
from pipeline_groups.registry import register_pipeline, unregister_pipeline
from pipeline_groups.spec import ExecutionPolicy, PipelineGroup


class Recorder:
    """What the throwaway pipelines did: start and end times of every body."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spans: list[dict[str, Any]] = []

    def add(self, name: str, start: float, end: float, **extra: Any) -> None:
        """Remember one body's run."""
        with self.lock:
            self.spans.append({"name": name, "start": start, "end": end, **extra})

    def names(self) -> list[str]:
        """Step names (the `label` param) in the order their bodies started."""
        return [s["name"] for s in sorted(self.spans, key=lambda s: s["start"])]

    def max_overlap(self) -> int:
        """Return the largest number of bodies that ran at the same moment."""
        points = sorted(
            [(s["start"], 1) for s in self.spans] + [(s["end"], -1) for s in self.spans]
        )
        current = best = 0
        for _, change in points:
            current += change
            best = max(best, current)
        return best


@pytest.fixture
def recorder() -> Recorder:
    """Return a fresh record of pipeline bodies for one test."""
    return Recorder()


@pytest.fixture
def pipelines(recorder: Recorder) -> Iterator[None]:
    """Register `t.work`, `t.fail`, `t.wait` and `t.keyed` for one test."""

    def work(ctx: Any, label: str, seconds: float = 0.0, **params: Any) -> dict:
        start = time.monotonic()
        if seconds:
            time.sleep(seconds)
        recorder.add(label, start, time.monotonic(), execution_id=ctx.execution_id)
        return {"label": label}

    def fail(ctx: Any, label: str, seconds: float = 0.0, **params: Any) -> None:
        start = time.monotonic()
        if seconds:
            time.sleep(seconds)
        recorder.add(label, start, time.monotonic())
        raise ValueError(f"{label} broke")

    def wait(ctx: Any, label: str, seconds: float = 5.0, **params: Any) -> str:
        start = time.monotonic()
        deadline = start + seconds
        while time.monotonic() < deadline:
            if ctx.cancel_requested:
                recorder.add(label, start, time.monotonic(), stopped=True)
                return "stopped"
            time.sleep(0.01)
        recorder.add(label, start, time.monotonic(), stopped=False)
        return "done"

    def keyed(ctx: Any, label: str, week: str, seconds: float = 0.2) -> None:
        start = time.monotonic()
        time.sleep(seconds)
        recorder.add(label, start, time.monotonic(), week=week)

    names = {"t.work": work, "t.fail": fail, "t.wait": wait}
    for name, function in names.items():
        register_pipeline(name)(function)
    register_pipeline("t.keyed", logical_key="week:{week}")(keyed)
    yield
    for name in [*names, "t.keyed"]:
        unregister_pipeline(name)


StepSpec = tuple[str, str, list[str], dict[str, Any]]


@pytest.fixture
def make_group(pipelines: None) -> Callable[..., str]:
    """Save a group of throwaway steps and return its name.

    Each step is (name, pipeline, depends_on, params); `label` defaults to the
    step's name, so the recorder knows which step a body belonged to.
    """
    counter = iter(range(1_000_000))

    def make(
        steps: list[StepSpec],
        *,
        execution: str = "sequential",
        max_concurrency: int = 4,
        on_failure: str = "stop",
        timeout_minutes: float | None = None,
        defaults: dict[str, Any] | None = None,
    ) -> str:
        from pipeline_groups import storage

        group = PipelineGroup(
            name=f"t.group_{next(counter)}",
            domain="t",
            defaults=dict(defaults or {}),
            policy=ExecutionPolicy(
                execution=execution,
                max_concurrency=max_concurrency,
                on_failure=on_failure,
                timeout_minutes=timeout_minutes,
            ),
        )
        for name, pipeline, depends_on, params in steps:
            group.add(name, pipeline, depends_on, {"label": name, **params})
        storage.save_group(group, source=GroupSource.API)
        return group.name

    return make


@pytest.fixture
def run_group() -> Callable[..., GroupRun]:
    """Start a group's run and drive it inline to its end."""

    def run(name: str, params: dict[str, Any] | None = None, **kwargs: Any) -> GroupRun:
        created = engine.start_run(
            name,
            dict(params or {}),
            trigger_source=TriggerSource.CLI,
            backend=Backend.INLINE,
        )
        return engine.run_inline(created, **kwargs)

    return run


def statuses(run: GroupRun) -> dict[str, str]:
    """Each step's status in the run's current view."""
    return {step.step_name: step.status for step in engine.describe_run(run).steps}
