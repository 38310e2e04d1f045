"""Factory-boy factories for every model, the one place tests build rows from.

The group factories carry a small, valid document in the shape of RFC 3.2.1 over
the sample FINRA pipelines, so a definition made here can be planned and run
without further set-up. Each factory fills only what a row needs; tests override
the fields their behaviour is about.
"""

from __future__ import annotations

import copy
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

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
