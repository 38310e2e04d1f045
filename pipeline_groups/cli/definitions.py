"""`groups` actions for list, show, validate, export and schema: what groups are."""

from __future__ import annotations

import argparse


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Add this area's actions to `manage.py groups`."""
