"""`manage.py importgroups [PATH ...] [--prune] [--dry-run]`: load group files.

One line per file (created, updated, unchanged, failed) and a total; a file with
any error imports nothing and makes the command exit 1. Groups registered in
Python are mirrored in the same pass, so after one command the table holds
every source's current definition.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline_groups import storage
from pipeline_groups.exceptions import SpineError


class Command(BaseCommand):
    """Import every *.yaml / *.yml group file under the paths."""

    help = (
        "Import group files (default: SPINE_GROUPS_PATH). A changed group becomes "
        "its next version; an unchanged one is left alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Paths, --prune and --dry-run."""
        parser.add_argument(
            "paths", nargs="*", metavar="PATH", help="Group files or folders."
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Deactivate groups whose file under the paths is gone.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Say what would change and write nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Import, report per file, and fail when any file failed."""
        paths = [Path(path) for path in options["paths"]] or None
        started = time.perf_counter()
        try:
            report = storage.import_group_files(
                paths,
                prune=options["prune"],
                dry_run=options["dry_run"],
                python_groups=True,
            )
        except SpineError as error:
            raise CommandError(str(error).splitlines()[0]) from None

        self._report(report, options["verbosity"])
        if options["verbosity"] >= 2:
            self.stdout.write(f"  took {time.perf_counter() - started:.3f}s")
        if report.failed:
            raise CommandError(self._failure(report))

    def _report(self, report: storage.ImportReport, verbosity: int) -> None:
        if verbosity == 0:
            return
        heading = "Would import" if report.dry_run else "Imported"
        self.stdout.write(self.style.MIGRATE_HEADING(f"{heading} group files:"))
        width = max((len(result.path) for result in report.files), default=0)
        for result in report.files:
            self.stdout.write(f"  {result.path:<{width}}  {self._describe(result)}")
            for issue in result.issues:
                self.stdout.write(f"      {issue}")
        for name, path in report.deactivated:
            verb = "would deactivate" if report.dry_run else "deactivated"
            self.stdout.write(
                f"  {name}  " + self.style.WARNING(verb) + f" ({path} is gone)"
            )
        self._report_python(report.python)

        counts = report.counts
        total = ", ".join(f"{counts[status]} {status}" for status in counts)
        if report.deactivated:
            verb = "would be deactivated" if report.dry_run else "deactivated"
            total += f"; {_plural(len(report.deactivated), 'group')} {verb}"
        self.stdout.write(f"{_plural(len(report.files), 'file')}: {total}")

    def _report_python(self, results: list[storage.FileResult]) -> None:
        if not results:
            return
        self.stdout.write(self.style.MIGRATE_HEADING("Groups defined in Python:"))
        width = max(len(result.group_name) for result in results)
        for result in results:
            version = "" if result.version is None else f"v{result.version}  "
            self.stdout.write(
                f"  {result.group_name:<{width}}  {version}" + self._status(result)
            )
            for issue in result.issues:
                self.stdout.write(f"      {issue}")

    @staticmethod
    def _failure(report: storage.ImportReport) -> str:
        files = report.counts["failed"]
        python = sum(result.status == "failed" for result in report.python)
        parts = []
        if files:
            verb = "was" if files == 1 else "were"
            parts.append(
                f"{files} of {_plural(len(report.files), 'file')} failed and "
                f"{verb} not imported"
            )
        if python:
            parts.append(
                f"{_plural(python, 'group')} defined in Python failed; the "
                "table keeps what it had"
            )
        return "; ".join(parts)

    def _describe(self, result: storage.FileResult) -> str:
        if result.status == "failed":
            return self._status(result)
        return f"{result.group_name} v{result.version}  " + self._status(result)

    def _status(self, result: storage.FileResult) -> str:
        styles = {
            "created": self.style.SUCCESS,
            "updated": self.style.WARNING,
            "unchanged": str,
            "failed": self.style.ERROR,
        }
        return styles[result.status](result.status)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")
