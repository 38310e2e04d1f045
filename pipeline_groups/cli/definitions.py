"""`groups` actions for list, show, validate, export and schema: what groups are.

Handlers stay short and call the library (`storage`, `yaml_spec`, `planner`);
bad input becomes a one-line `CommandError`, never a traceback.
`format_plan` is shared with `rungroup --plan`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from pipeline_groups import storage
from pipeline_groups.exceptions import GroupSpecError, SpecIssue, SpineError
from pipeline_groups.models import GroupDefinition, GroupVersion
from pipeline_groups.planner import ExecutionPlan, PlanResolver, text_issues
from pipeline_groups.spec import PipelineGroup
from pipeline_groups.yaml_spec import (
    dump_group_yaml,
    group_document_schema,
    read_group_file,
    validate_document,
)


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Add this area's actions to `manage.py groups`."""
    listing = subparsers.add_parser("list", help="List stored groups.")
    listing.add_argument("--domain", default="", help="Only groups of this domain.")
    listing.set_defaults(handler=handle_list)

    show = subparsers.add_parser("show", help="Show a group's steps in plan order.")
    show.add_argument("name", help="Group name, e.g. finra.weekly_refresh.")
    show.set_defaults(handler=handle_show)

    validate = subparsers.add_parser(
        "validate",
        help="Check group files: schema, registry, graph, step params.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="Files or folders.")
    validate.set_defaults(handler=handle_validate)

    export = subparsers.add_parser("export", help="Print a group as YAML.")
    export.add_argument("name", help="Group name.")
    export.add_argument(
        "--version", type=int, default=None, help="A stored earlier version."
    )
    export.set_defaults(handler=handle_export)

    schema = subparsers.add_parser(
        "schema", help="Print the JSON Schema of group documents."
    )
    schema.set_defaults(handler=handle_schema)


# Formatting shared with rungroup --plan.


def _value(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _policy_text(plan_or_group: ExecutionPlan | PipelineGroup) -> str:
    policy = plan_or_group.policy
    text = policy.execution
    if policy.execution == "parallel":
        text += f", at most {policy.max_concurrency} at once"
    text += f", on failure {policy.on_failure}"
    if policy.timeout_minutes is not None:
        text += f", timeout {policy.timeout_minutes:g} min"
    return text


def format_plan(plan: ExecutionPlan) -> list[str]:
    """Return the lines that show a resolved plan: order, params and their origin."""
    lines = [
        f"Plan for {plan.group_name} v{plan.group_version}: {len(plan.steps)} steps, "
        f"{_policy_text(plan)}",
        f"  batch {plan.batch_id}",
    ]
    if plan.params:
        lines.append(
            "  run params: "
            + ", ".join(
                f"{name}={_value(value)}" for name, value in plan.params.items()
            )
        )
    for step in plan.steps:
        lines.append(
            f"  {step.sequence_order + 1}. {step.step_name}  ({step.pipeline_name})"
        )
        after = ", ".join(step.depends_on) if step.depends_on else "nothing"
        lines.append(f"       after: {after}")
        for name, value in step.params.items():
            source = step.param_sources.get(name, "?")
            lines.append(f"       {name} = {_value(value)}  [{source}]")
    return lines


def format_group(group: PipelineGroup, *, active: bool = True) -> list[str]:
    """Return the lines of `groups show`: the group, its policy, steps in order."""
    state = "" if active else "  (inactive: readable, not runnable)"
    lines = [f"{group.name} v{group.version}{state}"]
    if group.domain:
        lines.append(f"  domain: {group.domain}")
    if group.description:
        text = "\n    ".join(group.description.strip().splitlines())
        lines.append(f"  description: {text}")
    if group.tags:
        lines.append(f"  tags: {', '.join(group.tags)}")
    lines.append(f"  policy: {_policy_text(group)}")
    for name, value in group.defaults.items():
        lines.append(f"  default {name} = {_value(value)}")
    needed = group.template_params()
    if needed:
        lines.append(f"  run params used: {', '.join(needed)}")

    try:
        order = PlanResolver().order(group)
        lines.append("  steps, in plan order:")
    except (SpineError, KeyError):
        order = list(range(len(group.steps)))
        lines.append("  steps, as declared (the graph does not resolve):")
    for position, index in enumerate(order, start=1):
        step = group.steps[index]
        lines.append(f"  {position}. {step.name}  ({step.pipeline})")
        after = ", ".join(step.depends_on) if step.depends_on else "nothing"
        lines.append(f"       after: {after}")
        for name, value in step.params.items():
            lines.append(f"       {name} = {_value(value)}")
    return lines


def _write_lines(command: BaseCommand, lines: list[str]) -> None:
    for line in lines:
        command.stdout.write(line)


# Handlers.


def handle_list(command: BaseCommand, *, domain: str = "", **options: Any) -> None:
    """Print one line per stored group."""
    _sync(command)
    rows = GroupDefinition.objects.order_by("name")
    if domain:
        rows = rows.filter(domain=domain)
    rows = list(rows)
    if not rows:
        command.stdout.write("No groups" + (f" in domain {domain}" if domain else ""))
        return

    width = max(len(row.name) for row in rows)
    noun = "group" if len(rows) == 1 else "groups"
    command.stdout.write(command.style.MIGRATE_HEADING(f"{len(rows)} {noun}"))
    for row in rows:
        steps = len((row.spec.get("spec") or {}).get("pipelines") or [])
        state = "" if row.is_active else command.style.WARNING("  inactive")
        command.stdout.write(
            f"  {row.name:<{width}}  v{row.version:<3} {steps:>3} steps  "
            f"{row.domain or '-'}  ({row.source}){state}"
        )


def handle_show(command: BaseCommand, *, name: str, **options: Any) -> None:
    """Print a stored group's steps in plan order with their params."""
    _sync(command)
    try:
        definition = storage.get_definition(name)
        group = storage.group_from_definition(definition)
    except SpineError as error:
        raise CommandError(str(error).splitlines()[0]) from None
    _write_lines(command, format_group(group, active=definition.is_active))


def handle_export(
    command: BaseCommand, *, name: str, version: int | None = None, **options: Any
) -> None:
    """Print a stored group (or one of its versions) as a YAML document."""
    _sync(command)
    try:
        definition = storage.get_definition(name)
        if version is None:
            group = storage.group_from_definition(definition)
        else:
            group = _stored_version(definition, version)
    except SpineError as error:
        raise CommandError(str(error).splitlines()[0]) from None
    command.stdout.write(dump_group_yaml(group), ending="")


def _stored_version(definition: GroupDefinition, version: int) -> PipelineGroup:
    row = GroupVersion.objects.filter(group=definition, version=version).first()
    if row is None:
        known = list(
            GroupVersion.objects.filter(group=definition)
            .order_by("version")
            .values_list("version", flat=True)
        )
        raise CommandError(
            f"Group {definition.name!r} has no version {version}; stored versions: "
            + ", ".join(str(number) for number in known)
        )
    group = validate_document(row.spec, source=f"{definition.name} v{version}")
    group.version = version
    return group


def handle_schema(command: BaseCommand, **options: Any) -> None:
    """Print the JSON Schema of group documents."""
    command.stdout.write(json.dumps(group_document_schema(), indent=2))


def validate_file(path: Path) -> list[SpecIssue]:
    """Return every problem of one group file that needs no run params."""
    source = storage.display_path(path)
    try:
        text = read_group_file(path, source)
    except GroupSpecError as error:
        return error.issues
    return text_issues(text, source)


def handle_validate(command: BaseCommand, *, files: list[str], **options: Any) -> None:
    """Check each file completely and list every problem; exit 1 on any."""
    try:
        paths = storage.find_group_files(Path(name) for name in files)
    except SpineError as error:
        raise CommandError(str(error)) from None
    if not paths:
        raise CommandError(f"No *.yaml or *.yml files in {', '.join(files)}")

    failed = 0
    for path in paths:
        issues = validate_file(path)
        shown = storage.display_path(path)
        if not issues:
            command.stdout.write(f"  {shown}  " + command.style.SUCCESS("ok"))
            continue
        failed += 1
        noun = "problem" if len(issues) == 1 else "problems"
        command.stdout.write(
            f"  {shown}  " + command.style.ERROR(f"{len(issues)} {noun}")
        )
        for issue in issues:
            command.stdout.write(f"    {issue}")

    if failed:
        raise CommandError(f"{failed} of {len(paths)} files have problems")
    command.stdout.write(command.style.SUCCESS(f"{len(paths)} files valid"))


def _sync(command: BaseCommand) -> None:
    """Mirror the group sources into the table before reading it (yaml mode)."""
    try:
        storage.ensure_synced()
    except SpineError as error:
        raise CommandError(str(error).splitlines()[0]) from None
