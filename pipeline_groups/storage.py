"""Where group definitions live: the `pipeline_groups` table and its sources.

SPINE_GROUP_STORAGE says who owns a group. In `database` mode (the default) the
table is the source of truth: groups are created through the API or the admin,
and YAML files are imported with `importgroups`. In `yaml` mode the files under
SPINE_GROUPS_PATH are: they are mirrored into the table (by `migrate`, once per
process before the first read, and by `importgroups`), and writes through the
API or the admin are refused by `ensure_writable()`. Groups registered in Python
are mirrored into the table in either mode (by `migrate` and `importgroups`, and
in `yaml` mode before the first read too).

A file or a Python group is stored only when it has none of the problems
`groups validate` shows (schema, registry, graph, step params): what the API and
the admin refuse, an import refuses as well.

Versions belong to the server: saving a group whose document differs in
anything but `metadata.version` stores the next version and keeps every version
in `pipeline_group_versions`; saving the same document again changes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from pipeline_groups.exceptions import (
    GroupNotFoundError,
    GroupSourcePathError,
    GroupSpecError,
    GroupStorageReadOnlyError,
    SpecIssue,
    closest_names,
)
from pipeline_groups.models import GroupDefinition, GroupSource, GroupVersion
from pipeline_groups.planner import check_group_text, group_issues
from pipeline_groups.registry import list_groups
from pipeline_groups.spec import PipelineGroup
from pipeline_groups.yaml_spec import read_group_file, validate_document

logger = logging.getLogger(__name__)

SaveStatus = Literal["created", "updated", "unchanged"]
FileStatus = Literal["created", "updated", "unchanged", "failed"]
YAML_SUFFIXES = (".yaml", ".yml")

_sync_lock = threading.Lock()
_synced = False


def storage_mode() -> str:
    """Return SPINE_GROUP_STORAGE: "database" or "yaml"."""
    return settings.SPINE_GROUP_STORAGE


def groups_path() -> Path:
    """Return SPINE_GROUPS_PATH, the folder of group files."""
    return Path(settings.SPINE_GROUPS_PATH)


def ensure_writable(name: str = "") -> None:
    """Refuse a write through the API or the admin while the files own the groups.

    Raises `GroupStorageReadOnlyError` (a PermissionError) in `yaml` mode.
    """
    if storage_mode() == "yaml":
        raise GroupStorageReadOnlyError(name, display_path(groups_path()))


def display_path(path: Path) -> str:
    """Return a path relative to the project when it lies inside it."""
    resolved = Path(path).resolve()
    base = Path(settings.BASE_DIR).resolve()
    try:
        return resolved.relative_to(base).as_posix()
    except ValueError:
        return resolved.as_posix()


def _absolute(stored: str) -> Path:
    path = Path(stored)
    return path if path.is_absolute() else Path(settings.BASE_DIR) / path


# Reading.


def group_from_definition(definition: GroupDefinition) -> PipelineGroup:
    """Return the group a stored row describes, at the row's version."""
    group = validate_document(definition.spec, source=f"group {definition.name}")
    group.version = definition.version
    return group


def load_group(name: str) -> PipelineGroup:
    """Return the stored group of this name, active or not.

    Raises `GroupNotFoundError` with the closest names when there is none.
    """
    ensure_synced()
    return group_from_definition(get_definition(name))


def get_definition(name: str) -> GroupDefinition:
    """Return the stored row of this name, or raise `GroupNotFoundError`."""
    try:
        return GroupDefinition.objects.get(name=name)
    except GroupDefinition.DoesNotExist:
        names = GroupDefinition.objects.values_list("name", flat=True)
        raise GroupNotFoundError(name, closest_names(name, list(names))) from None


# Writing.


def _content(group: PipelineGroup) -> dict[str, Any]:
    return group.content_document()


def _stored_content(definition: GroupDefinition) -> dict[str, Any] | None:
    try:
        return _content(group_from_definition(definition))
    except GroupSpecError:
        # A row written under an older schema differs from any valid document.
        return None


def compare_group(group: PipelineGroup) -> tuple[SaveStatus, int]:
    """Say what saving the group would do, and the version it would have."""
    definition = GroupDefinition.objects.filter(name=group.name).first()
    if definition is None:
        return "created", 1
    if _stored_content(definition) == _content(group):
        return ("unchanged" if definition.is_active else "updated"), definition.version
    return "updated", definition.version + 1


def _document_at(group: PipelineGroup, version: int) -> dict[str, Any]:
    document = group.to_document()
    document["metadata"]["version"] = version
    return document


def save_group(
    group: PipelineGroup,
    *,
    source: GroupSource,
    source_path: str = "",
    created_by: str = "",
) -> tuple[GroupDefinition, SaveStatus]:
    """Store the group: "created", "updated" (next version) or "unchanged".

    `metadata.version` of the group is ignored: the stored version is the
    server's. Saving an inactive group's unchanged document activates it again
    without a new version. A group that is not a valid document (a Python group
    can be built with any values) raises `GroupSpecError` and stores nothing.
    """
    validate_document(group.to_document(), source=f"group {group.name}")
    return _save_checked(group, source, source_path, created_by)


def _save_checked(
    group: PipelineGroup, source: GroupSource, source_path: str, created_by: str
) -> tuple[GroupDefinition, SaveStatus]:
    """Store a group whose document was validated already (import, mirror)."""
    with transaction.atomic():
        definition = (
            GroupDefinition.objects.select_for_update().filter(name=group.name).first()
        )
        if definition is None:
            return _create(group, source, source_path, created_by), "created"

        if _stored_content(definition) == _content(group):
            status: SaveStatus = "unchanged" if definition.is_active else "updated"
            return _keep(definition, source, source_path), status
        return _update(definition, group, source, source_path, created_by), "updated"


def _create(
    group: PipelineGroup, source: GroupSource, source_path: str, created_by: str
) -> GroupDefinition:
    document = _document_at(group, 1)
    definition = GroupDefinition.objects.create(
        name=group.name,
        domain=group.domain,
        version=1,
        description=group.description,
        spec=document,
        tags=list(group.tags),
        source=source,
        source_path=source_path,
        created_by=created_by,
        is_active=True,
    )
    GroupVersion.objects.create(
        group=definition, version=1, spec=document, created_by=created_by
    )
    logger.info("Group %s created at version 1 from %s", group.name, source)
    return definition


def _keep(
    definition: GroupDefinition, source: GroupSource, source_path: str
) -> GroupDefinition:
    changed = {}
    if not definition.is_active:
        changed["is_active"] = True
    if (definition.source, definition.source_path) != (source, source_path):
        changed.update(source=source, source_path=source_path)
    if changed:
        for name, value in changed.items():
            setattr(definition, name, value)
        definition.updated_at = timezone.now()
        definition.save(update_fields=[*changed, "updated_at"])
    if "is_active" in changed:
        logger.info("Group %s activated again", definition.name)
    return definition


def _update(
    definition: GroupDefinition,
    group: PipelineGroup,
    source: GroupSource,
    source_path: str,
    created_by: str,
) -> GroupDefinition:
    version = definition.version + 1
    document = _document_at(group, version)
    definition.domain = group.domain
    definition.version = version
    definition.description = group.description
    definition.spec = document
    definition.tags = list(group.tags)
    definition.source = source
    definition.source_path = source_path
    definition.is_active = True
    definition.updated_at = timezone.now()
    definition.save()
    GroupVersion.objects.create(
        group=definition, version=version, spec=document, created_by=created_by
    )
    logger.info("Group %s updated to version %d from %s", group.name, version, source)
    return definition


def deactivate_group(name: str) -> GroupDefinition:
    """Mark a group inactive: still readable, no longer runnable."""
    return _set_active(name, False)


def activate_group(name: str) -> GroupDefinition:
    """Mark a group active again."""
    return _set_active(name, True)


def _set_active(name: str, active: bool) -> GroupDefinition:
    definition = get_definition(name)
    if definition.is_active != active:
        definition.is_active = active
        definition.updated_at = timezone.now()
        definition.save(update_fields=["is_active", "updated_at"])
        logger.info("Group %s %s", name, "activated" if active else "deactivated")
    return definition


# Importing files.


@dataclass
class FileResult:
    """What importing one file did."""

    path: str
    status: FileStatus
    group_name: str = ""
    version: int | None = None
    issues: list[SpecIssue] = field(default_factory=list)


@dataclass
class ImportReport:
    """What an import did, file by file, and which groups it deactivated."""

    files: list[FileResult] = field(default_factory=list)
    deactivated: list[tuple[str, str]] = field(default_factory=list)
    python: list[FileResult] = field(default_factory=list)
    dry_run: bool = False

    @property
    def counts(self) -> dict[str, int]:
        """Files per status, every status present."""
        counts = dict.fromkeys(("created", "updated", "unchanged", "failed"), 0)
        for result in self.files:
            counts[result.status] += 1
        return counts

    @property
    def failed(self) -> bool:
        """Whether any file, or any group defined in Python, failed."""
        results = [*self.files, *self.python]
        return any(result.status == "failed" for result in results)


def find_group_files(paths: Iterable[Path]) -> list[Path]:
    """Return every *.yaml and *.yml file under the paths, sorted, each once.

    Raises `GroupSourcePathError` for a path that does not exist.
    """
    found: dict[Path, None] = {}
    for path in paths:
        path = Path(path)
        if path.is_file():
            found.setdefault(path.resolve(), None)
        elif path.is_dir():
            files = (
                item
                for item in sorted(path.rglob("*"))
                if item.is_file() and item.suffix in YAML_SUFFIXES
            )
            for item in files:
                found.setdefault(item.resolve(), None)
        else:
            raise GroupSourcePathError(str(path))
    return list(found)


def _read(path: Path) -> PipelineGroup:
    """Read a group file, refusing it on any problem `groups validate` would show."""
    source = display_path(path)
    group, issues = check_group_text(read_group_file(path, source), source)
    if issues or group is None:
        raise GroupSpecError(issues, source)
    return group


def import_group_files(
    paths: Iterable[Path] | None = None,
    *,
    prune: bool = False,
    dry_run: bool = False,
    created_by: str = "",
    prune_outside: bool = False,
    python_groups: bool = False,
) -> ImportReport:
    """Import every group file under the paths (default SPINE_GROUPS_PATH).

    Each file is one group and imports whole or not at all. With `prune`, groups
    that came from a file under the paths which is gone (or now defines another
    group) are deactivated; `prune_outside` (yaml mode, where the folder is the
    truth) also deactivates file groups that came from anywhere else. With
    `python_groups` the groups registered in Python are mirrored too, as
    `importgroups` does. With `dry_run` nothing is written.
    """
    roots = [Path(path) for path in (paths or [groups_path()])]
    report = ImportReport(dry_run=dry_run)
    defined: dict[str, str] = {}
    for path in find_group_files(roots):
        report.files.append(_import_file(path, defined, dry_run, created_by))

    if prune:
        report.deactivated = _prune(roots, report, defined, dry_run, prune_outside)
    if python_groups:
        report.python = [_mirror_python(group, dry_run) for group in list_groups()]
    return report


def _mirror_python(group: PipelineGroup, dry_run: bool) -> FileResult:
    issues = group_issues(group, source=f"group {group.name}")
    if issues:
        return FileResult("", "failed", group.name, issues=issues)
    if dry_run:
        status, version = compare_group(group)
        return FileResult("", status, group.name, version)
    definition, saved = _save_checked(group, GroupSource.PYTHON, "", "")
    return FileResult("", saved, group.name, definition.version)


def _import_file(
    path: Path, defined: dict[str, str], dry_run: bool, created_by: str
) -> FileResult:
    shown = display_path(path)
    try:
        group = _read(path)
    except GroupSpecError as error:
        return FileResult(shown, "failed", issues=error.issues)

    if group.name in defined:
        issue = SpecIssue(
            "metadata.name",
            f"group {group.name!r} is also defined in {defined[group.name]}",
            None,
            shown,
        )
        return FileResult(shown, "failed", group.name, issues=[issue])
    defined[group.name] = shown

    if dry_run:
        status, version = compare_group(group)
        return FileResult(shown, status, group.name, version)
    definition, status = _save_checked(group, GroupSource.FILE, shown, created_by)
    return FileResult(shown, status, group.name, definition.version)


def _under(path: Path, roots: Iterable[Path]) -> bool:
    resolved = path.resolve()
    for root in roots:
        root = root.resolve()
        if resolved == root or root in resolved.parents:
            return True
    return False


def _prune(
    roots: list[Path],
    report: ImportReport,
    defined: dict[str, str],
    dry_run: bool,
    outside: bool = False,
) -> list[tuple[str, str]]:
    """Deactivate file groups under the roots that no file defines any more."""
    failed = {result.path for result in report.files if result.status == "failed"}
    deactivated = []
    candidates = GroupDefinition.objects.filter(
        source=GroupSource.FILE, is_active=True
    ).exclude(source_path="")
    for definition in candidates:
        path = _absolute(definition.source_path)
        if definition.name in defined or not (outside or _under(path, roots)):
            continue
        # A file that is there but does not parse keeps its group as it was.
        if path.exists() and display_path(path) in failed:
            continue
        deactivated.append((definition.name, definition.source_path))
        if not dry_run:
            deactivate_group(definition.name)
    return deactivated


# Mirroring sources into the table.


@dataclass
class SyncReport:
    """What mirroring Python-registered groups and (in yaml mode) files did."""

    python: list[tuple[str, SaveStatus]] = field(default_factory=list)
    files: ImportReport | None = None


def sync_python_groups() -> list[tuple[str, SaveStatus]]:
    """Mirror every group registered in Python into the table.

    A group with any problem `groups validate` would show is logged and
    skipped, so `migrate` still finishes.
    """
    results = []
    for group in list_groups():
        result = _mirror_python(group, dry_run=False)
        if result.status == "failed":
            logger.error(
                "Python group %s not mirrored: %s",
                group.name,
                "; ".join(str(issue) for issue in result.issues),
            )
            continue
        results.append((group.name, result.status))
    return results


def sync_group_sources() -> SyncReport:
    """Mirror Python-registered groups, and in yaml mode the group files.

    In yaml mode the files under SPINE_GROUPS_PATH are imported with prune, so
    the table follows the folder; a file with errors is logged and skipped.
    """
    report = SyncReport(python=sync_python_groups())
    if storage_mode() == "yaml" and groups_path().is_dir():
        report.files = import_group_files(
            [groups_path()], prune=True, prune_outside=True
        )
        for result in report.files.files:
            if result.status == "failed":
                logger.error(
                    "Group file %s not mirrored: %s",
                    result.path,
                    "; ".join(str(issue) for issue in result.issues),
                )
    return report


def ensure_synced() -> None:
    """Mirror the sources once per process, before the first read (yaml mode).

    In database mode the table is the truth and Python groups are mirrored by
    `migrate` and `importgroups`, so a read costs no extra queries.
    """
    global _synced
    if _synced or storage_mode() != "yaml":
        return
    with _sync_lock:
        if not _synced:
            sync_group_sources()
            _synced = True


def reset_sync() -> None:
    """Forget that this process has mirrored its sources (tests, reloads)."""
    global _synced
    _synced = False


def sync_after_migrate(using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """`post_migrate` receiver: mirror the sources once the tables exist."""
    tables = connections[using].introspection.table_names()
    if GroupDefinition._meta.db_table not in tables:
        return
    report = sync_group_sources()
    changed = [name for name, status in report.python if status != "unchanged"]
    if changed:
        logger.info("Mirrored Python groups %s", ", ".join(changed))
