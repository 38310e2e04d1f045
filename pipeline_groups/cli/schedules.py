"""`groups` actions for schedule, schedules and unschedule: cron schedules.

A schedule is a django-q2 cron `Schedule` whose task is
`pipeline_groups.tasks.start_scheduled_run(group_name, params)`, so the cluster's
own scheduler starts the runs (trigger source `scheduler`) and nothing else has to
be running. A group may carry several schedules; one per cron expression.
"""

from __future__ import annotations

import argparse
import ast
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_q.models import Schedule

from pipeline_groups.exceptions import SpineError
from pipeline_groups.runner import parse_param

SCHEDULED_RUN_FUNC = "pipeline_groups.tasks.start_scheduled_run"


def _check_cron(expression: str) -> str:
    """Refuse a cron expression croniter cannot expand, quoting it."""
    from croniter import croniter

    expression = " ".join(expression.split())
    if not croniter.is_valid(expression):
        raise CommandError(
            f"--cron {expression!r} is not a cron expression; "
            "write five fields such as '0 6 * * 1-5'"
        )
    return expression


def _check_group(group_name: str, params: dict[str, Any]) -> None:
    """Refuse a group that cannot run with these params, before anything is saved."""
    from pipeline_groups.models import GroupDefinition
    from pipeline_groups.planner import PlanResolver
    from pipeline_groups.storage import load_group

    try:
        group = load_group(group_name)
        PlanResolver().resolve(group, params)
    except SpineError as error:
        raise CommandError(str(error)) from error
    if not GroupDefinition.objects.filter(name=group_name, is_active=True).exists():
        raise CommandError(
            f"Group {group_name!r} is inactive; activate it before scheduling it"
        )


def schedule_kwargs(schedule: Schedule) -> dict[str, Any]:
    """Read back the group name and params a Spine schedule was saved with."""
    try:
        kwargs = ast.literal_eval(schedule.kwargs or "{}")
    except (SyntaxError, ValueError):
        return {}
    return kwargs if isinstance(kwargs, dict) else {}


def group_schedules(group_name: str | None = None) -> list[Schedule]:
    """Spine's run schedules, of one group or of all, by group then cron."""
    schedules = [
        schedule
        for schedule in Schedule.objects.filter(func=SCHEDULED_RUN_FUNC)
        if group_name is None
        or schedule_kwargs(schedule).get("group_name") == group_name
    ]
    return sorted(
        schedules,
        key=lambda s: (schedule_kwargs(s).get("group_name", ""), s.cron or "", s.pk),
    )


def save_schedule(
    group_name: str, cron: str, params: dict[str, Any]
) -> tuple[Schedule, str]:
    """Create the group's schedule for `cron`, or replace its params.

    Returns the schedule and "created", "updated" or "unchanged".
    """
    kwargs = repr({"group_name": group_name, "params": params})
    with transaction.atomic():
        for existing in group_schedules(group_name):
            if existing.cron != cron:
                continue
            if existing.kwargs == kwargs:
                return existing, "unchanged"
            existing.kwargs = kwargs
            existing.save(update_fields=["kwargs"])
            return existing, "updated"

        created = Schedule.objects.create(
            name=f"group {group_name}"[:100],
            func=SCHEDULED_RUN_FUNC,
            kwargs=kwargs,
            schedule_type=Schedule.CRON,
            cron=cron,
            repeats=-1,
        )
    return created, "created"


def _handle_schedule(
    command: BaseCommand, *, name: str, cron: str, param: list[str], **options: Any
) -> None:
    """Create or update a cron schedule for a group."""
    cron = _check_cron(cron)
    params = dict(parse_param(text) for text in param or [])
    _check_group(name, params)

    schedule, outcome = save_schedule(name, cron, params)

    style = command.style.SUCCESS if outcome != "unchanged" else command.style.NOTICE
    command.stdout.write(
        f"Schedule {schedule.pk} for {name}: cron {cron!r}, "
        f"next run {schedule.next_run:%Y-%m-%d %H:%M:%S %Z} " + style(outcome)
    )


def _handle_schedules(command: BaseCommand, **options: Any) -> None:
    """List every group's schedules with their next run."""
    schedules = group_schedules()
    if not schedules:
        command.stdout.write("No schedules.")
        return

    command.stdout.write(command.style.MIGRATE_HEADING("Schedules:"))
    for schedule in schedules:
        kwargs = schedule_kwargs(schedule)
        params = " ".join(
            f"{key}={value}" for key, value in sorted(kwargs.get("params", {}).items())
        )
        next_run = (
            f"{schedule.next_run:%Y-%m-%d %H:%M:%S %Z}" if schedule.next_run else "-"
        )
        command.stdout.write(
            f"  {schedule.pk:>4}  {kwargs.get('group_name', '?')}  "
            f"cron {schedule.cron!r}  next {next_run}"
            + (f"  {params}" if params else "")
        )


def _handle_unschedule(command: BaseCommand, *, name: str, **options: Any) -> None:
    """Remove every schedule of a group."""
    schedules = group_schedules(name)
    if not schedules:
        raise CommandError(
            f"Group {name!r} has no schedule; `groups schedules` lists them"
        )

    Schedule.objects.filter(pk__in=[schedule.pk for schedule in schedules]).delete()

    plural = "s" if len(schedules) != 1 else ""
    command.stdout.write(
        f"Removed {len(schedules)} schedule{plural} of {name} "
        + command.style.SUCCESS("removed")
    )


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Add this area's actions to `manage.py groups`."""
    schedule = subparsers.add_parser(
        "schedule", help="Run a group on a cron schedule (django-q2 runs it)."
    )
    schedule.add_argument("name", help="the group to run")
    schedule.add_argument(
        "--cron", required=True, help="five-field cron expression, e.g. '0 6 * * 1-5'"
    )
    schedule.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a run parameter; repeat for several",
    )
    schedule.set_defaults(handler=_handle_schedule)

    listing = subparsers.add_parser("schedules", help="List group schedules.")
    listing.set_defaults(handler=_handle_schedules)

    unschedule = subparsers.add_parser(
        "unschedule", help="Remove every schedule of a group."
    )
    unschedule.add_argument("name", help="the group whose schedules go")
    unschedule.set_defaults(handler=_handle_unschedule)
