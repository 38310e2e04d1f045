"""`manage.py pipelines`: the registry, so a person writing a group knows the names.

Each pipeline is listed with the parameters its signature takes: required ones
bare, optional ones with their default, and `**params` when it accepts any.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from pipeline_groups.registry import PipelineInfo, list_pipelines


def describe_parameters(info: PipelineInfo) -> str:
    """Return a pipeline's parameters as one readable line."""
    parts = list(info.required)
    parts += [
        f"{name}={json.dumps(default, default=str)}"
        for name, default in info.optional.items()
    ]
    if info.accepts_any:
        parts.append("**params")
    return ", ".join(parts) or "no parameters"


class Command(BaseCommand):
    """List every registered pipeline with its parameters."""

    help = "List the registered pipelines with their parameters."

    def add_arguments(self, parser: CommandParser) -> None:
        """Allow narrowing the list to one domain."""
        parser.add_argument(
            "--domain", default="", help="Only pipelines whose name starts DOMAIN."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Print a heading, then two lines per pipeline."""
        domain = options["domain"]
        pipelines = [
            info
            for info in list_pipelines()
            if not domain or info.name.startswith(f"{domain}.")
        ]
        if not pipelines:
            self.stdout.write(
                "No pipelines registered" + (f" in {domain}" if domain else "")
            )
            return

        self.stdout.write(self.style.MIGRATE_HEADING(f"{len(pipelines)} pipelines"))
        for info in pipelines:
            self.stdout.write(f"  {info.name}")
            self.stdout.write(f"    params: {describe_parameters(info)}")
            if info.logical_key:
                self.stdout.write(f"    logical key: {info.logical_key}")
            if info.description and options["verbosity"] > 1:
                self.stdout.write(f"    {info.description.splitlines()[0]}")
