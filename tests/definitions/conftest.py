"""Throwaway pipelines that the definition tests plan against."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pipeline_groups.registry import register_pipeline, unregister_pipeline

THROWAWAY = ("t.ingest", "t.normalize", "t.report", "t.anything")


def _ingest(ctx: Any, tier: str, week_ending: str, source_type: str = "file") -> None:
    """Take the week's file."""


def _normalize(ctx: Any, tier: str, week_ending: str) -> None:
    """Clean the week's rows."""


def _report(ctx: Any, symbols: list[str], limit: int = 10) -> None:
    """Report on some symbols."""


def _anything(ctx: Any, **params: Any) -> None:
    """Accept every param."""


@pytest.fixture
def pipelines() -> Iterator[tuple[str, ...]]:
    """Register the throwaway pipelines for one test, then forget them."""
    for name, function in zip(
        THROWAWAY, (_ingest, _normalize, _report, _anything), strict=True
    ):
        register_pipeline(name)(function)
    yield THROWAWAY
    for name in THROWAWAY:
        unregister_pipeline(name)


@pytest.fixture
def no_mirrored_groups(db: None) -> None:
    """Start from an empty group table: `migrate` mirrors Python-defined groups."""
    from pipeline_groups.models import GroupDefinition

    GroupDefinition.objects.all().delete()
