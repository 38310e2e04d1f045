"""`groups` actions for schedule, schedules and unschedule: cron schedules."""

from __future__ import annotations

import argparse


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Add this area's actions to `manage.py groups`."""
