"""`manage.py rungroup NAME`: plan a group, run it, and show every step as it moves.

By default the steps run here, on the inline backend, so a person at a terminal
needs no worker; `--async` hands the run to the django-q2 workers instead, and
`--wait` follows it there. `--plan` resolves and prints the plan and runs nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline_groups import engine, runner, storage
from pipeline_groups.cli.definitions import format_plan
from pipeline_groups.exceptions import SpineError
from pipeline_groups.models import Backend, GroupRun, TriggerSource
from pipeline_groups.planner import ExecutionPlan, PlanResolver


class Command(BaseCommand):
    """Run a pipeline group with a params set, inline or on the workers."""

    help = (
        "Run a pipeline group: print its plan, then each step's transitions. "
        "Exit 0 completed, 1 failed or cancelled, 2 bad input, 130 on Ctrl-C."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Name the group, its run params and where the steps run."""
        parser.add_argument("name", help="Group name, e.g. finra.weekly_refresh.")
        runner.add_param_arguments(parser)
        parser.add_argument(
            "--plan",
            action="store_true",
            help="Print the resolved plan (order, params, their origin); run nothing.",
        )
        parser.add_argument(
            "--async",
            dest="run_async",
            action="store_true",
            help="Hand the run to the django-q2 workers, print its id and return.",
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="With --async: follow the run on the workers to its end.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Plan, then run inline or enqueue; the exit code follows the run."""
        if options["wait"] and not options["run_async"]:
            raise CommandError(
                "--wait goes with --async (an inline run is always followed)",
                returncode=runner.EXIT_BAD_INPUT,
            )
        params = runner.collect_params(options["param"], options["params_file"])
        verbosity = options["verbosity"]

        with runner.quiet_engine_logs(verbosity):
            if options["plan"]:
                self._print_plan(self._resolve(options["name"], params))
                return
            backend = Backend.DJANGO_Q if options["run_async"] else Backend.INLINE
            run = self._start(options["name"], params, backend)
            if verbosity:
                self._print_plan(ExecutionPlan.from_json(run.plan))
            if not options["run_async"]:
                runner.drive_inline(
                    self, run, live=runner.is_terminal(self.stdout), verbosity=verbosity
                )
                return

            self.stdout.write(f"Run {run.id} enqueued for the workers")
            if options["wait"]:
                runner.wait_for_run(self, run, verbosity=verbosity)

    def _resolve(self, name: str, params: dict[str, Any]) -> ExecutionPlan:
        try:
            storage.ensure_synced()
            definition = storage.get_definition(name)
            group = storage.group_from_definition(definition)
            plan = PlanResolver().resolve(group, params)
        except SpineError as error:
            raise runner.bad_input(error) from None
        if not definition.is_active:
            self.stdout.write(
                self.style.WARNING(
                    f"Group {name} is inactive: this plan resolves, but a run is "
                    "refused until the group is activated"
                )
            )
        return plan

    def _start(self, name: str, params: dict[str, Any], backend: str) -> GroupRun:
        try:
            return engine.start_run(
                name, params, trigger_source=TriggerSource.CLI, backend=backend
            )
        except SpineError as error:
            raise runner.bad_input(error) from None

    def _print_plan(self, plan: ExecutionPlan) -> None:
        for line in format_plan(plan):
            self.stdout.write(line)
