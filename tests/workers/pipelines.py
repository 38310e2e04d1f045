"""Throwaway pipelines the worker tests run inside real `qcluster` processes.

The test process and every `qcluster` it starts import this module (the cluster
through SPINE_PIPELINE_MODULES), so both see the same registry. Each body appends
one JSON line when it starts and one when it ends to the file named by
SPINE_TEST_RECORD; `O_APPEND` keeps lines from different processes whole, so the
file is the ground truth of which bodies ran, where, and when.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from pipeline_groups import ExecutionContext, register_pipeline

RECORD_VARIABLE = "SPINE_TEST_RECORD"


def record(event: str, context: ExecutionContext | None, **fields: Any) -> None:
    """Append one line about a body to the record file, if one is configured."""
    path = os.environ.get(RECORD_VARIABLE)
    if not path:
        return
    line = {
        "event": event,
        "time": time.time(),
        "pid": os.getpid(),
        "execution_id": context.execution_id if context else None,
        "batch_id": context.batch_id if context else None,
        **fields,
    }
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, (json.dumps(line) + "\n").encode())
    finally:
        os.close(descriptor)


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every line written so far to a record file."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def _wait(context: ExecutionContext, seconds: float) -> bool:
    """Sleep up to `seconds`, returning early (True) when the run asks to stop."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if context.cancel_requested:
            return True
        time.sleep(min(0.02, max(0.0, deadline - time.monotonic())))
    return False


@register_pipeline("workers_test.sleep")
def sleep_step(ctx: ExecutionContext, label: str = "", seconds: float = 0.0) -> dict:
    """Sleep, stopping early on cancel, and record the body's start and end."""
    record("start", ctx, label=label)
    stopped = _wait(ctx, float(seconds))
    record("end", ctx, label=label, stopped=stopped)
    return {"label": label, "stopped": stopped}


@register_pipeline("workers_test.fail")
def failing_step(ctx: ExecutionContext, label: str = "", seconds: float = 0.0) -> None:
    """Record the body, then fail the way a broken pipeline does."""
    record("start", ctx, label=label)
    _wait(ctx, float(seconds))
    record("end", ctx, label=label)
    raise RuntimeError(f"step {label} failed on purpose")


@register_pipeline("workers_test.barrier")
def barrier_step(
    ctx: ExecutionContext, label: str = "", parties: int = 2, delay: float = 0.3
) -> dict:
    """Finish at the same instant as the other branches of a join.

    Each branch records its start, waits until `parties` branches of its batch
    have started, then sleeps until `delay` seconds after the last of them
    started, so every branch ends within a few milliseconds of the others.
    """
    record("start", ctx, label=label, barrier=True)
    path = Path(os.environ[RECORD_VARIABLE])
    limit = time.monotonic() + 30
    starts: list[float] = []
    while len(starts) < parties and time.monotonic() < limit:
        time.sleep(0.01)
        starts = [
            line["time"]
            for line in read_records(path)
            if line["event"] == "start"
            and line["batch_id"] == ctx.batch_id
            and line.get("barrier")
        ]

    time.sleep(max(0.0, max(starts, default=time.time()) + delay - time.time()))
    record("end", ctx, label=label)
    return {"label": label}


def block(seconds: float) -> None:
    """Occupy a worker process with a plain django-q2 task (no step)."""
    record("block", None, seconds=seconds)
    time.sleep(seconds)
