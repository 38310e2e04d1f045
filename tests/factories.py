"""Factory-boy factories for every model, the one place tests build rows from.

The group factories carry a small, valid document in the shape of RFC 3.2.1 over
the sample FINRA pipelines, so a definition made here can be planned and run
without further set-up. Each factory fills only what a row needs; tests override
the fields their behaviour is about.
"""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from domains.finra import otc_transparency as otc
from domains.models import (
    DailyPrice,
    DatasetLoad,
    Exchange,
    ExchangeCalendarDay,
    FinraOtcRaw,
    FinraOtcRolling,
    FinraOtcSymbolWeekly,
    FinraOtcVenueShare,
    FinraOtcWeekly,
)
from pipeline_groups.models import (
    Backend,
    DeadLetter,
    EventKind,
    Execution,
    ExecutionEvent,
    ExecutionStatus,
    GroupDefinition,
    GroupRun,
    GroupRunExecution,
    GroupSource,
    GroupVersion,
    RunStatus,
    TriggerSource,
    new_batch_id,
)

DEFAULT_PASSWORD = "test-password-1234"

FINRA_PARAMS = {"tier": "NMS_TIER_1", "week_ending": "2026-01-03"}


def group_document(
    name: str = "finra.weekly_refresh",
    *,
    domain: str = "finra.otc_transparency",
    version: int = 1,
    description: str = "Weekly FINRA OTC refresh: ingest then normalize.",
    tags: list[str] | None = None,
) -> dict[str, Any]:
    """Return a whole group document (apiVersion, kind, metadata, spec).

    Two steps over registered sample pipelines, with run params templated into
    the defaults as in RFC appendix A.1.
    """
    return {
        "apiVersion": "spine.io/v1",
        "kind": "PipelineGroup",
        "metadata": {
            "name": name,
            "domain": domain,
            "version": version,
            "description": description,
            "tags": list(tags if tags is not None else ["finra", "weekly"]),
        },
        "spec": {
            "defaults": {
                "tier": "{{ params.tier }}",
                "week_ending": "{{ params.week_ending }}",
                "force": False,
            },
            "pipelines": [
                {
                    "name": "ingest",
                    "pipeline": "finra.otc_transparency.ingest_week",
                    "params": {"source_type": "file"},
                },
                {
                    "name": "normalize",
                    "pipeline": "finra.otc_transparency.normalize_week",
                    "depends_on": ["ingest"],
                },
            ],
            "policy": {
                "execution": "sequential",
                "max_concurrency": 4,
                "on_failure": "stop",
            },
        },
    }


def _spec_for(definition: GroupDefinition) -> dict[str, Any]:
    return group_document(
        definition.name,
        domain=definition.domain,
        version=definition.version,
        description=definition.description,
        tags=definition.tags,
    )


def _plan_for(run: GroupRun) -> dict[str, Any]:
    steps = [
        ("ingest", "finra.otc_transparency.ingest_week", [], {"source_type": "file"}),
        ("normalize", "finra.otc_transparency.normalize_week", ["ingest"], {}),
    ]
    return {
        "group_name": run.group_name,
        "group_version": run.group_version,
        "batch_id": run.batch_id,
        "params": copy.deepcopy(run.params),
        "policy": {
            "execution": "sequential",
            "max_concurrency": 4,
            "on_failure": "stop",
            "timeout_minutes": None,
        },
        "steps": [
            {
                "step_name": step_name,
                "pipeline_name": pipeline,
                "params": {**run.params, "force": False, **extra},
                "depends_on": depends_on,
                "sequence_order": order,
                "param_sources": {
                    **{key: "run" for key in run.params},
                    "force": "default",
                    **{key: "step" for key in extra},
                },
            }
            for order, (step_name, pipeline, depends_on, extra) in enumerate(steps)
        ],
    }


class UserFactory(factory.django.DjangoModelFactory):
    """A plain user with a known password; `is_staff`/`is_superuser` on demand."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password(DEFAULT_PASSWORD)


class GroupDefinitionFactory(factory.django.DjangoModelFactory):
    """An active group whose `spec` is a valid two-step FINRA document."""

    class Meta:
        model = GroupDefinition
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"finra.weekly_refresh_{n}")
    domain = "finra.otc_transparency"
    version = 1
    description = "Weekly FINRA OTC refresh: ingest then normalize."
    tags = factory.LazyFunction(lambda: ["finra", "weekly"])
    spec = factory.LazyAttribute(_spec_for)
    source = GroupSource.API
    is_active = True


class GroupVersionFactory(factory.django.DjangoModelFactory):
    """A stored version of a group, with the group's document as its spec."""

    class Meta:
        model = GroupVersion

    group = factory.SubFactory(GroupDefinitionFactory)
    version = factory.LazyAttribute(lambda row: row.group.version)
    spec = factory.LazyAttribute(lambda row: copy.deepcopy(row.group.spec))


class GroupRunFactory(factory.django.DjangoModelFactory):
    """A pending run of a group with a frozen two-step plan."""

    class Meta:
        model = GroupRun

    group = factory.SubFactory(GroupDefinitionFactory)
    group_name = factory.LazyAttribute(lambda run: run.group.name)
    group_version = factory.LazyAttribute(lambda run: run.group.version)
    params = factory.LazyFunction(lambda: dict(FINRA_PARAMS))
    status = RunStatus.PENDING
    trigger_source = TriggerSource.CLI
    backend = Backend.INLINE
    batch_id = factory.LazyAttribute(
        lambda run: new_batch_id(f"group_{run.group_name}")
    )
    plan = factory.LazyAttribute(_plan_for)


class ExecutionFactory(factory.django.DjangoModelFactory):
    """A pending lone execution of the FINRA ingest pipeline."""

    class Meta:
        model = Execution

    pipeline_name = "finra.otc_transparency.ingest_week"
    params = factory.LazyFunction(lambda: dict(FINRA_PARAMS))
    status = ExecutionStatus.PENDING
    trigger_source = TriggerSource.CLI
    batch_id = factory.LazyFunction(lambda: new_batch_id("pipeline_ingest_week"))
    logical_key = factory.LazyAttribute(
        lambda row: (
            "{tier}:{week_ending}".format(**row.params)
            if {"tier", "week_ending"} <= set(row.params)
            else None
        )
    )

    class Params:
        completed = factory.Trait(
            status=ExecutionStatus.COMPLETED,
            started_at=factory.LazyFunction(timezone.now),
            completed_at=factory.LazyFunction(timezone.now),
            result={"rows_read": 10, "rows_written": 10},
        )
        failed = factory.Trait(
            status=ExecutionStatus.FAILED,
            started_at=factory.LazyFunction(timezone.now),
            completed_at=factory.LazyFunction(timezone.now),
            error="ValueError: bad input",
            traceback="Traceback (most recent call last):\nValueError: bad input\n",
        )


class GroupRunExecutionFactory(factory.django.DjangoModelFactory):
    """The first attempt of the `ingest` step of a run, linked to its execution."""

    class Meta:
        model = GroupRunExecution

    group_run = factory.SubFactory(GroupRunFactory)
    execution = factory.SubFactory(
        ExecutionFactory,
        batch_id=factory.SelfAttribute("..group_run.batch_id"),
        params=factory.LazyAttribute(
            lambda row: dict(row.factory_parent.group_run.params)
        ),
    )
    step_name = "ingest"
    sequence_order = 0
    attempt = 1


class ExecutionEventFactory(factory.django.DjangoModelFactory):
    """One line of an execution's timeline."""

    class Meta:
        model = ExecutionEvent

    execution = factory.SubFactory(ExecutionFactory)
    kind = EventKind.QUEUED
    message = ""


class DeadLetterFactory(factory.django.DjangoModelFactory):
    """A failed execution waiting in the dead-letter queue."""

    class Meta:
        model = DeadLetter

    execution = factory.SubFactory(ExecutionFactory, failed=True)
    pipeline_name = factory.LazyAttribute(lambda row: row.execution.pipeline_name)
    error = factory.LazyAttribute(lambda row: row.execution.error)


# The sample domains' tables (domains.models).


class DatasetLoadFactory(factory.django.DjangoModelFactory):
    """The record of one partition's load, as a pipeline leaves it."""

    class Meta:
        model = DatasetLoad

    dataset = "finra_otc_symbol_weekly"
    # Saturdays a week apart from 2000, far from the sample weeks: never repeats.
    partition = factory.Sequence(
        lambda n: f"NMS_TIER_1:{dt.date(2000, 1, 1) + dt.timedelta(weeks=n)}"
    )
    fingerprint = factory.Sequence(lambda n: f"{n:064x}")
    source = "finra_otc_weekly"
    rows_read = 1
    rows_written = 1


class FinraOtcRawFactory(factory.django.DjangoModelFactory):
    """One line of a Tier 1 weekly summary for the week ending 2026-01-03."""

    class Meta:
        model = FinraOtcRaw

    tier = "NMS_TIER_1"
    week_ending = dt.date(2026, 1, 3)
    line_number = factory.Sequence(lambda n: n + 2)
    tier_description = "NMS Tier 1"
    symbol = "AAPL"
    issue_name = "Apple Inc. Common Stock"
    participant_name = "CITADEL SECURITIES LLC"
    mpid = "CDRG"
    share_quantity = 1_000
    trade_count = 10
    last_update_date = dt.date(2026, 1, 13)
    week_start_date = factory.LazyAttribute(
        lambda row: row.week_ending - dt.timedelta(days=5)
    )
    source_file = factory.LazyAttribute(
        lambda row: f"finra/otc/{row.tier}/{row.week_ending.isoformat()}.psv"
    )


class FinraOtcWeeklyFactory(factory.django.DjangoModelFactory):
    """One symbol's normalized week at one market participant."""

    class Meta:
        model = FinraOtcWeekly

    tier = "NMS_TIER_1"
    week_ending = dt.date(2026, 1, 3)
    symbol = "AAPL"
    issue_name = "Apple Inc. Common Stock"
    mpid = factory.Sequence(lambda n: f"MP{n:04d}")
    participant_name = factory.LazyAttribute(lambda row: f"{row.mpid} SECURITIES")
    share_quantity = 1_000
    trade_count = 10
    average_trade_size = factory.LazyAttribute(
        lambda row: otc.average_trade_size(row.share_quantity, row.trade_count)
    )


class FinraOtcSymbolWeeklyFactory(factory.django.DjangoModelFactory):
    """One symbol's week summed over its market participants."""

    class Meta:
        model = FinraOtcSymbolWeekly

    tier = "NMS_TIER_1"
    week_ending = dt.date(2026, 1, 3)
    symbol = "AAPL"
    issue_name = "Apple Inc. Common Stock"
    share_quantity = 1_000
    trade_count = 10
    participant_count = 1
    average_trade_size = factory.LazyAttribute(
        lambda row: otc.average_trade_size(row.share_quantity, row.trade_count)
    )


class FinraOtcRollingFactory(factory.django.DjangoModelFactory):
    """A symbol's four-week average ending with the week ending 2026-01-03."""

    class Meta:
        model = FinraOtcRolling

    tier = "NMS_TIER_1"
    week_ending = dt.date(2026, 1, 3)
    weeks = 4
    symbol = "AAPL"
    weeks_present = 4
    average_share_quantity = 1_000.0
    average_trade_count = 10.0
    share_quantity_change = None


class FinraOtcVenueShareFactory(factory.django.DjangoModelFactory):
    """A market participant's share of a tier's week."""

    class Meta:
        model = FinraOtcVenueShare

    tier = "NMS_TIER_1"
    week_ending = dt.date(2026, 1, 3)
    mpid = factory.Sequence(lambda n: f"MP{n:04d}")
    participant_name = factory.LazyAttribute(lambda row: f"{row.mpid} SECURITIES")
    share_quantity = 1_000
    trade_count = 10
    symbol_count = 1
    market_share = 1.0
    rank = 1


class DailyPriceFactory(factory.django.DjangoModelFactory):
    """One day's bar of a symbol from the Alpha Vantage source."""

    class Meta:
        model = DailyPrice

    symbol = "AAPL"
    source = "alpha_vantage"
    date = factory.Sequence(lambda n: dt.date(2025, 10, 1) + dt.timedelta(days=n))
    open = Decimal("228.0000")
    high = Decimal("230.5000")
    low = Decimal("226.2500")
    close = Decimal("229.1000")
    volume = 35_000_000


class ExchangeFactory(factory.django.DjangoModelFactory):
    """An exchange with New York's regular hours."""

    class Meta:
        model = Exchange
        django_get_or_create = ("mic",)

    mic = "XNYS"
    name = "New York Stock Exchange"
    timezone = "America/New_York"
    open_time = dt.time(9, 30)
    close_time = dt.time(16, 0)


class ExchangeCalendarDayFactory(factory.django.DjangoModelFactory):
    """A regular trading day of an exchange."""

    class Meta:
        model = ExchangeCalendarDay

    exchange = factory.SubFactory(ExchangeFactory)
    date = factory.Sequence(lambda n: dt.date(2025, 1, 2) + dt.timedelta(days=n))
    session = ExchangeCalendarDay.Session.REGULAR
    is_trading_day = True
    open_time = factory.LazyAttribute(lambda row: row.exchange.open_time)
    close_time = factory.LazyAttribute(lambda row: row.exchange.close_time)
    name = ""
