"""`manage.py importgroups [PATH ...] [--prune] [--dry-run]`: load group files.

One line per file (created, updated, unchanged, failed) and a total; a file with
any error imports nothing and makes the command exit 1.
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
                paths, prune=options["prune"], dry_run=options["dry_run"]
            )
        except SpineError as error:
            raise CommandError(str(error).splitlines()[0]) from None

        self._report(report, options["verbosity"])
        if options["verbosity"] >= 2:
            self.stdout.write(f"  took {time.perf_counter() - started:.3f}s")
        if report.failed:
            raise CommandError(
                f"{report.counts['failed']} of {len(report.files)} files failed; "
                "nothing of them was imported"
            )

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

        counts = report.counts
        total = ", ".join(f"{counts[status]} {status}" for status in counts)
        self.stdout.write(f"{len(report.files)} files: {total}")

    def _describe(self, result: storage.FileResult) -> str:
        if result.status == "failed":
            return self.style.ERROR("failed")
        styles = {
            "created": self.style.SUCCESS,
            "updated": self.style.WARNING,
            "unchanged": str,
        }
        return f"{result.group_name} v{result.version}  " + styles[result.status](
            result.status
        )
