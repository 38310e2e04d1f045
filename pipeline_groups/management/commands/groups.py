"""`manage.py groups ACTION`: inspect, validate and operate pipeline groups."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from pipeline_groups.cli import definitions, runs, schedules


class Command(BaseCommand):
    """Dispatch to the action modules under `pipeline_groups.cli`."""

    help = "Inspect, validate, run and schedule pipeline groups."

    def add_arguments(self, parser: CommandParser) -> None:
        """Collect the actions of every area."""
        subparsers = parser.add_subparsers(
            dest="action", required=True, metavar="ACTION"
        )
        for area in (definitions, runs, schedules):
            area.add_subcommands(subparsers)

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the chosen action's handler."""
        handler = options.pop("handler")
        handler(self, **options)
