"""`manage.py deadletters list|replay`: the failed executions waiting for a person.

Replaying a dead letter of a group step resumes that same run in place (the step
gets a new attempt, the steps it blocked run again); a lone execution runs again
as a new one. By default the workers do the work; `--inline` does it here.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from pipeline_groups import engine, runner
from pipeline_groups.exceptions import DeadLetterReplayedError, SpineError
from pipeline_groups.models import (
    STEP_TERMINAL,
    Backend,
    DeadLetter,
    Execution,
    GroupRun,
    GroupRunExecution,
    StepStatus,
)

DEFAULT_SHOWN = 50


class Command(BaseCommand):
    """List dead letters or replay one."""

    help = "List the dead-letter queue, or replay one failed execution."

    def add_arguments(self, parser: CommandParser) -> None:
        """Add the `list` and `replay` actions."""
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        listing = actions.add_parser("list", help="Dead letters, newest first.")
        listing.add_argument(
            "--all", action="store_true", help="Include those already replayed."
        )
        listing.add_argument("--pipeline", default="", help="Only this pipeline.")
        listing.add_argument("--limit", type=int, default=DEFAULT_SHOWN)

        replay = actions.add_parser("replay", help="Run a dead letter's step again.")
        replay.add_argument("dead_letter_id", metavar="ID")
        runner.add_follow_arguments(replay)

    def handle(self, *args: Any, **options: Any) -> None:
        """Dispatch to the chosen action."""
        if options["action"] == "list":
            self._list(options["all"], options["pipeline"], options["limit"])
        else:
            self._replay(
                options["dead_letter_id"],
                wait=options["wait"],
                inline=options["inline"],
                verbosity=options["verbosity"],
            )

    def _list(self, everything: bool, pipeline: str, limit: int) -> None:
        letters = DeadLetter.objects.select_related("execution__group_step")
        if not everything:
            letters = letters.filter(replayed_at__isnull=True)
        if pipeline:
            letters = letters.filter(pipeline_name=pipeline)
        letters = list(letters.order_by("-created_at", "-id")[: max(limit, 1)])
        if not letters:
            self.stdout.write("No dead letters" + ("" if everything else " waiting"))
            return

        self.stdout.write(self.style.MIGRATE_HEADING(f"{len(letters)} dead letters"))
        for letter in letters:
            when = timezone.localtime(letter.created_at).strftime("%Y-%m-%d %H:%M:%S")
            link = getattr(letter.execution, "group_step", None)
            where = (
                f"run {link.group_run_id} step {link.step_name}" if link else "alone"
            )
            state = (
                self.style.SUCCESS(f"replayed as {letter.replay_execution_id}")
                if letter.replayed_at
                else self.style.WARNING("waiting")
            )
            self.stdout.write(f"  {letter.id}  {when}  {letter.pipeline_name}  {state}")
            self.stdout.write(f"    {where}, execution {letter.execution_id}")
            if letter.error:
                self.stdout.write(f"    {letter.error.splitlines()[0]}")

    def _replay(
        self, letter_id: str, *, wait: bool, inline: bool, verbosity: int
    ) -> None:
        backend = Backend.INLINE if inline else Backend.DJANGO_Q
        try:
            with runner.quiet_engine_logs(verbosity):
                letter = engine.replay_dead_letter(letter_id, backend=backend)
        except DeadLetterReplayedError as error:
            raise CommandError(str(error), returncode=runner.EXIT_FAILED) from None
        except SpineError as error:
            raise runner.bad_input(error) from None

        run_id = (
            GroupRunExecution.objects.filter(execution_id=letter.execution_id)
            .values_list("group_run_id", flat=True)
            .first()
        )
        if run_id is not None:
            self._follow_run(run_id, inline=inline, wait=wait, verbosity=verbosity)
            return
        replay_id = letter.replay_execution_id
        self.stdout.write(f"Dead letter {letter.id} replayed as execution {replay_id}")
        if inline or wait:
            self._follow_execution(replay_id)

    def _follow_run(
        self, run_id: str, *, inline: bool, wait: bool, verbosity: int
    ) -> None:
        run = GroupRun.objects.get(pk=run_id)
        self.stdout.write(f"Run {run.id} resumed: {run.status}")
        with runner.quiet_engine_logs(verbosity):
            if inline:
                runner.drive_inline(
                    self, run, live=runner.is_terminal(self.stdout), verbosity=verbosity
                )
            elif wait:
                runner.wait_for_run(self, run, verbosity=verbosity)

    def _follow_execution(self, execution_id: str) -> None:
        try:
            while True:
                execution = Execution.objects.get(pk=execution_id)
                if execution.status in STEP_TERMINAL:
                    break
                time.sleep(runner.FOLLOW_POLL_SECONDS)
        except KeyboardInterrupt:
            raise CommandError(
                f"stopped following execution {execution_id}; it goes on",
                returncode=runner.EXIT_INTERRUPTED,
            ) from None
        style = runner.status_style(self, execution.status)
        self.stdout.write(f"Execution {execution.id} {style(execution.status)}")
        if execution.status != StepStatus.COMPLETED:
            raise CommandError(
                f"execution {execution.id} {execution.status}: "
                + (execution.error.splitlines()[0] if execution.error else ""),
                returncode=runner.EXIT_FAILED,
            )
