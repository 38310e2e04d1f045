"""What the run commands share: reading params, printing progress, following runs.

`rungroup`, `runpipeline`, `groups retry --wait` and `deadletters replay` read run
params the same way, print step transitions the same way (a line each, or a live
table on a terminal) and end with the same exit codes: 0 completed, 1 failed,
2 bad input (nothing recorded), 130 interrupted (the run is recorded cancelled).
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from pipeline_groups import engine
from pipeline_groups.engine import RunView, Transition
from pipeline_groups.models import RUN_TERMINAL, GroupRun, RunStatus, StepStatus

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
FOLLOW_POLL_SECONDS = 0.5
# How long a cancelled run is followed for its running steps to notice.
SETTLE_SECONDS = 60.0
# The most steps the live view draws; a larger run shows its active ones.
LIVE_ROWS = 30
_LIVE_INTEREST = frozenset({StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.FAILED})
_NO_REASON = frozenset({StepStatus.RUNNING, StepStatus.COMPLETED})


# Params from the command line.


def parse_param(text: str) -> tuple[str, Any]:
    """Read `key=value`; the value is JSON when it parses as JSON, else a string."""
    key, separator, raw = text.partition("=")
    key = key.strip()
    if not separator or not key:
        raise CommandError(
            f"--param {text!r} is not of the form NAME=VALUE; "
            "write e.g. --param tier=NMS_TIER_1",
            returncode=EXIT_BAD_INPUT,
        )
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


def _plain(value: Any) -> Any:
    """Turn YAML's dates into the ISO strings a JSON plan can hold."""
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def read_params_file(path: str) -> dict[str, Any]:
    """Read a JSON or YAML mapping of run params."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as error:
        raise CommandError(
            f"--params-file {path!r} cannot be read: {error.strerror}",
            returncode=EXIT_BAD_INPUT,
        ) from None
    try:
        data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        first = str(error).splitlines()[0]
        raise CommandError(
            f"--params-file {path!r} is neither JSON nor YAML: {first}",
            returncode=EXIT_BAD_INPUT,
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CommandError(
            f"--params-file {path!r} must hold a mapping of param names to values",
            returncode=EXIT_BAD_INPUT,
        )
    return _plain(data)


def add_param_arguments(parser: CommandParser) -> None:
    """Add `--param k=v` (repeatable) and `--params-file F` to a command."""
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="A run param; a value that reads as JSON keeps its type. Repeatable.",
    )
    parser.add_argument(
        "--params-file",
        default=None,
        metavar="FILE",
        help="A JSON or YAML mapping of run params; --param options win.",
    )


def add_follow_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--wait` or `--inline` to a command that resumes work on the workers."""
    follow = parser.add_mutually_exclusive_group()
    follow.add_argument(
        "--wait", action="store_true", help="Follow the work on the workers to its end."
    )
    follow.add_argument(
        "--inline", action="store_true", help="Do the work in this process instead."
    )


def bad_input(error: Exception) -> CommandError:
    """Turn a library error about the input into the one-line exit-2 error."""
    reason = "; ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return CommandError(reason, returncode=EXIT_BAD_INPUT)


def collect_params(
    params: Iterable[str] | None, params_file: str | None = None
) -> dict[str, Any]:
    """Merge a params file and `--param` options; options win."""
    merged = read_params_file(params_file) if params_file else {}
    for text in params or ():
        key, value = parse_param(text)
        merged[key] = value
    return merged


@contextmanager
def quiet_engine_logs(verbosity: int) -> Iterator[None]:
    """Keep the engine's INFO lines off a command's output unless -v 2 asks."""
    log = logging.getLogger("pipeline_groups")
    previous = log.level
    if verbosity < 2:
        log.setLevel(logging.ERROR if verbosity == 1 else logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(previous)


# Printing progress.


def format_duration(seconds: float | None) -> str:
    """Show seconds as `1.25s` under a minute and `3m05s` above; empty for None."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def status_style(command: BaseCommand, status: str) -> Callable[[str], str]:
    """Colour a status word the way every command does."""
    if status in (StepStatus.COMPLETED, RunStatus.COMPLETED):
        return command.style.SUCCESS
    if status in (StepStatus.FAILED, RunStatus.FAILED):
        return command.style.ERROR
    if status in (StepStatus.SKIPPED, StepStatus.CANCELLED):
        return command.style.WARNING
    return str


class ProgressPrinter:
    """Print step transitions as lines, or redraw a table of steps on a terminal."""

    def __init__(self, command: BaseCommand, run: GroupRun, live: bool) -> None:
        self.command = command
        self.run = run
        self.live = live
        self.drawn = 0
        self.view: RunView | None = None
        self.verbosity = 1

    @property
    def out(self) -> TextIO:
        """The command's stdout wrapper."""
        return self.command.stdout

    def transition(self, change: Transition) -> None:
        """Report one step transition."""
        if self.live:
            self.redraw()
            return
        if self.verbosity < 1:
            return
        at = timezone.localtime(change.at).strftime("%H:%M:%S")
        style = status_style(self.command, change.status)
        line = f"{at}  {change.step_name or '-':<24} {style(f'{change.status:<10}')}"
        duration = format_duration(change.duration_seconds)
        if duration:
            line += f" {duration}"
        if change.message and change.status != StepStatus.COMPLETED:
            line += f"  {change.message.splitlines()[0]}"
        self.out.write(line.rstrip())

    def redraw(self) -> None:
        """Draw every step with its status and reason, over the last drawing."""
        self.run.refresh_from_db()
        view = engine.describe_run(self.run)
        lines = [f"Run {self.run.id}  {view.status}  {view.progress} steps"]
        shown = view.steps
        if len(shown) > LIVE_ROWS:
            # A large run shows what is moving or went wrong, not every step.
            shown = [s for s in shown if s.status in _LIVE_INTEREST][:LIVE_ROWS]
            lines[0] += f" (showing {len(shown)} active or failed)"
        for step in shown:
            style = status_style(self.command, step.status)
            reason = "" if step.status in _NO_REASON else step.reason
            lines.append(
                f"  {step.step_name:<24} {style(f'{step.status:<10}')} "
                f"{format_duration(step.duration_seconds):>8}  {reason[:60]}".rstrip()
            )
        if self.drawn:
            self.out.write(f"\x1b[{self.drawn}F\x1b[J", ending="")
        for line in lines:
            self.out.write(line)
        self.drawn = len(lines)
        self.out.flush()

    def summary(self, run: GroupRun) -> None:
        """Print the run's outcome and its step counts."""
        view = engine.describe_run(run)
        counts = ", ".join(
            f"{count} {status}" for status, count in sorted(view.counts.items())
        )
        style = status_style(self.command, run.status)
        self.out.write(
            f"Run {run.id} {style(run.status)} in "
            f"{format_duration(run.duration_seconds) or '0.00s'}: {counts}"
        )
        if run.error:
            self.out.write(f"  {run.error.splitlines()[0]}")


def follow_run(
    command: BaseCommand,
    run: GroupRun,
    printer: ProgressPrinter,
    *,
    timeout: float | None = None,
) -> GroupRun:
    """Wait for a run that others execute, printing each step change once."""
    seen: dict[str, tuple[str, int]] = {}
    started = time.monotonic()
    while True:
        run.refresh_from_db()
        view = engine.describe_run(run)
        for step in view.steps:
            key = (step.status, step.attempt)
            if seen.get(step.step_name) == key:
                continue
            seen[step.step_name] = key
            if step.status == StepStatus.PENDING and step.attempt == 0:
                continue
            printer.transition(
                Transition(
                    run.id,
                    step.step_name,
                    step.execution_id or "",
                    step.attempt,
                    step.status,
                    step.completed_at or step.started_at or timezone.now(),
                    duration_seconds=(
                        step.duration_seconds
                        if step.status in (StepStatus.COMPLETED, StepStatus.FAILED)
                        else None
                    ),
                    message=step.error,
                )
            )
        if run.status in RUN_TERMINAL:
            return run
        if timeout is not None and time.monotonic() - started > timeout:
            return run
        time.sleep(FOLLOW_POLL_SECONDS)


def finish(command: BaseCommand, run: GroupRun, printer: ProgressPrinter) -> None:
    """Print the summary and leave with the run's exit code (0 when completed)."""
    if printer.live:
        printer.redraw()
    printer.summary(run)
    if run.status == RunStatus.COMPLETED:
        return
    raise CommandError(f"run {run.id} {run.status}", returncode=EXIT_FAILED)


def drive_inline(
    command: BaseCommand, run: GroupRun, *, live: bool, verbosity: int
) -> GroupRun:
    """Run a run's steps here, printing progress; Ctrl-C cancels and exits 130."""
    printer = ProgressPrinter(command, run, live)
    printer.verbosity = verbosity
    try:
        run = engine.run_inline(run, on_transition=printer.transition)
    except KeyboardInterrupt:
        run.refresh_from_db()
        printer.summary(run)
        raise CommandError(
            f"interrupted: run {run.id} is {run.status}", returncode=EXIT_INTERRUPTED
        ) from None
    finish(command, run, printer)
    return run


def wait_for_run(command: BaseCommand, run: GroupRun, *, verbosity: int) -> GroupRun:
    """Follow a run that the workers execute to its end; Ctrl-C cancels it."""
    printer = ProgressPrinter(command, run, is_terminal(command.stdout))
    printer.verbosity = verbosity
    try:
        run = follow_run(command, run, printer)
    except KeyboardInterrupt:
        run = _cancel_and_settle(command, run, printer)
        raise CommandError(
            f"interrupted: run {run.id} is {run.status}", returncode=EXIT_INTERRUPTED
        ) from None
    finish(command, run, printer)
    return run


def _cancel_and_settle(
    command: BaseCommand, run: GroupRun, printer: ProgressPrinter
) -> GroupRun:
    """Cancel a followed run and wait a while for its running steps to stop."""
    from pipeline_groups.exceptions import RunFinishedError

    try:
        engine.cancel_run(run.id, requested_by="Ctrl-C")
    except RunFinishedError:
        pass
    command.stdout.write(f"Cancelling run {run.id}; press Ctrl-C again to stop waiting")
    try:
        run = follow_run(command, run, printer, timeout=SETTLE_SECONDS)
    except KeyboardInterrupt:
        run.refresh_from_db()
    printer.summary(run)
    return run


def is_terminal(stream: Any) -> bool:
    """Whether a command's stdout is an interactive terminal."""
    isatty = getattr(getattr(stream, "_out", stream), "isatty", None)
    return bool(isatty and isatty())
