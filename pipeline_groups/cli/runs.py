"""`groups` actions for runs, status, cancel, retry and reap: what group runs do."""

from __future__ import annotations

import argparse


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Add this area's actions to `manage.py groups`."""
