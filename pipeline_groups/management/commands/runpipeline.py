"""`manage.py runpipeline NAME --param k=v`: run one registered pipeline, here.

For trying a pipeline outside any group: the execution is recorded like a
worker's (events, result, traceback, a dead letter on failure), so what a person
runs by hand can be read and replayed the same way afterwards.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline_groups import engine, runner
from pipeline_groups.exceptions import SpineError
from pipeline_groups.models import Backend, Execution, ExecutionStatus, TriggerSource


class Command(BaseCommand):
    """Run one pipeline in this process and record its execution."""

    help = (
        "Run one registered pipeline in this process. Exit 0 completed, 1 failed, "
        "2 bad input (nothing recorded)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Name the pipeline and its params."""
        parser.add_argument(
            "name", help="Pipeline name, e.g. finra.otc_transparency.ingest_week."
        )
        runner.add_param_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the pipeline, print its outcome and exit with it."""
        params = runner.collect_params(options["param"], options["params_file"])

        with runner.quiet_engine_logs(options["verbosity"]):
            try:
                execution = engine.run_pipeline(
                    options["name"],
                    params,
                    trigger_source=TriggerSource.CLI,
                    backend=Backend.INLINE,
                )
            except SpineError as error:
                raise runner.bad_input(error) from None

        self._report(execution)
        if execution.status != ExecutionStatus.COMPLETED:
            raise CommandError(
                f"execution {execution.id} {execution.status}",
                returncode=runner.EXIT_FAILED,
            )

    def _report(self, execution: Execution) -> None:
        duration = runner.format_duration(execution.duration_seconds or 0.0)
        status = runner.status_style(self, execution.status)(execution.status)
        self.stdout.write(
            f"Execution {execution.id} of {execution.pipeline_name} {status} "
            f"in {duration}"
        )
        if execution.result is not None:
            result = json.dumps(execution.result, sort_keys=True, ensure_ascii=False)
            self.stdout.write(f"  result: {result}")
        if execution.error:
            self.stdout.write(f"  error: {execution.error.splitlines()[0]}")
        if hasattr(execution, "dead_letter"):
            self.stdout.write(
                f"  dead letter {execution.dead_letter.id}: "
                f"replay with `manage.py deadletters replay {execution.dead_letter.id}`"
            )
