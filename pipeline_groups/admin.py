"""Admin pages: groups as YAML, runs with their steps, executions, dead letters.

Execution rows are written only by the engine, so their admin pages are for
reading: every field is read-only and nothing can be added or changed by hand.
Groups are edited as one YAML document, checked like a file under groups/ and
stored through `storage.save_group`, so every changed save is a new version.
Runs, cancels, retries and replays go through the engine's functions, the same
code the API and the status pages call.
"""

from __future__ import annotations

import difflib
from typing import Any

import yaml
from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from pipeline_groups import engine, storage
from pipeline_groups.exceptions import (
    GroupSpecError,
    GroupStorageReadOnlyError,
    SpecIssue,
    SpineError,
)
from pipeline_groups.models import (
    Backend,
    DeadLetter,
    Execution,
    ExecutionEvent,
    GroupDefinition,
    GroupRun,
    GroupRunExecution,
    GroupSource,
    GroupVersion,
    TriggerSource,
)
from pipeline_groups.planner import PlanResolver, check_group_text, problems_as_issues
from pipeline_groups.spec import PipelineGroup
from pipeline_groups.views import RUN_PERMISSION, Badge, first_line, format_duration
from pipeline_groups.yaml_spec import dump_group_yaml, load_group_yaml_with_lines


class ReadOnlyAdminMixin:
    """Show rows without letting anyone add, change or delete them by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse: rows come from the engine only."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse: statuses move only through the engine's conditional updates."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse: the timeline is append-only and history is not edited away."""
        return False


class ExecutionEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    """An execution's timeline, oldest first."""

    model = ExecutionEvent
    fields = ("created_at", "kind", "message")
    readonly_fields = fields
    ordering = ("created_at", "id")
    extra = 0
    can_delete = False


@admin.register(Execution)
class ExecutionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every pipeline execution, alone or as a step of a group run."""

    list_display = (
        "id",
        "pipeline_name",
        "status",
        "trigger_source",
        "logical_key",
        "created_at",
        "started_at",
        "completed_at",
        "duration_seconds",
    )
    list_filter = ("status", "trigger_source", "pipeline_name")
    search_fields = ("id", "pipeline_name", "batch_id", "logical_key", "error")
    date_hierarchy = "created_at"
    list_select_related = False
    readonly_fields = (
        "id",
        "pipeline_name",
        "params",
        "status",
        "trigger_source",
        "batch_id",
        "logical_key",
        "created_at",
        "queued_at",
        "started_at",
        "completed_at",
        "heartbeat_at",
        "worker",
        "duration_seconds",
        "result",
        "error",
        "traceback",
    )
    fieldsets = (
        (None, {"fields": ("id", "pipeline_name", "status", "params", "result")}),
        (
            "Where it came from",
            {"fields": ("trigger_source", "batch_id", "logical_key", "worker")},
        ),
        (
            "Timing",
            {
                "fields": (
                    "created_at",
                    "queued_at",
                    "started_at",
                    "completed_at",
                    "heartbeat_at",
                    "duration_seconds",
                )
            },
        ),
        ("Failure", {"fields": ("error", "traceback"), "classes": ("collapse",)}),
    )
    inlines = [ExecutionEventInline]


@admin.register(ExecutionEvent)
class ExecutionEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The timeline of every execution, newest first."""

    list_display = ("created_at", "execution", "kind", "message")
    list_filter = ("kind",)
    search_fields = ("execution__id", "execution__pipeline_name", "message")
    list_select_related = ("execution",)
    readonly_fields = ("execution", "kind", "created_at", "message")
    ordering = ("-created_at", "-id")


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Failed executions waiting for a person to replay or dismiss them."""

    list_display = (
        "id",
        "pipeline_name",
        "execution",
        "created_at",
        "replayed_at",
        "replay_execution",
        "short_error",
    )
    list_filter = ("pipeline_name", ("replayed_at", admin.EmptyFieldListFilter))
    search_fields = ("id", "pipeline_name", "execution__id", "error")
    list_select_related = ("execution", "replay_execution")
    readonly_fields = (
        "id",
        "execution",
        "pipeline_name",
        "error",
        "created_at",
        "replayed_at",
        "replay_execution",
    )

    actions = ("replay_dead_letters",)

    def has_run_group_permission(self, request: HttpRequest) -> bool:
        """Whether the user may replay, as replaying runs a pipeline again."""
        return request.user.has_perm(RUN_PERMISSION)

    @admin.action(description="Replay selected dead letters", permissions=["run_group"])
    def replay_dead_letters(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Replay each dead letter: resume its run, or run a lone execution again."""
        for letter_id in queryset.values_list("id", flat=True):
            try:
                letter = engine.replay_dead_letter(letter_id)
            except SpineError as error:
                messages.warning(request, str(error))
            else:
                messages.success(
                    request,
                    f"Replayed {letter.pipeline_name} ({letter_id}) as execution "
                    f"{letter.replay_execution_id}.",
                )

    @admin.display(description="Error")
    def short_error(self, obj: DeadLetter) -> str:
        """Show the first line of the error, which is the sentence that matters."""
        return (obj.error or "").splitlines()[0][:120] if obj.error else ""


# Groups and runs (the status pages' owner extends the admin from here down).

NEW_GROUP_YAML = """apiVersion: spine.io/v1
kind: PipelineGroup
metadata:
  name: domain.group_name
  domain: domain
  description: What this group refreshes.
spec:
  defaults:
    week_ending: "{{ params.week_ending }}"
  pipelines:
    - name: first_step
      pipeline: domain.pipeline_name
  policy:
    execution: sequential
    on_failure: stop
"""


def _document_yaml(spec: Any) -> str:
    """Return a stored document as YAML text, keys in their stored order."""
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=88)


def _content_yaml(spec: Any) -> str:
    """Return a stored document as YAML without `metadata.version`, for diffs."""
    document = dict(spec or {})
    document["metadata"] = {
        key: value
        for key, value in (document.get("metadata") or {}).items()
        if key != "version"
    }
    return _document_yaml(document)


def _read_only_reason() -> str:
    """Say why groups cannot be changed here in yaml storage mode."""
    return str(
        GroupStorageReadOnlyError("", storage.display_path(storage.groups_path()))
    )


class GroupDefinitionForm(forms.ModelForm):
    """Edit a group as one YAML document, checked as the loader checks a file."""

    yaml = forms.CharField(
        label="Group document (YAML)",
        widget=forms.Textarea(
            attrs={"rows": 28, "cols": 100, "spellcheck": "false", "class": "yaml"}
        ),
        help_text=(
            "The whole document as in a file under groups/. metadata.version is the "
            "server's: every saved change becomes the next version."
        ),
    )

    class Meta:
        model = GroupDefinition
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group: PipelineGroup | None = None
        if not self.instance._state.adding:
            try:
                text = dump_group_yaml(storage.group_from_definition(self.instance))
            except GroupSpecError:
                text = _document_yaml(self.instance.spec)
            self.fields["yaml"].initial = text
        else:
            self.fields["yaml"].initial = NEW_GROUP_YAML

    def clean_yaml(self) -> str:
        """Check the document as `groups validate` checks a file: every problem at once.

        Each message has the line and the document path first, in the loader's
        words, so what the admin says and what the CLI says about the same
        text are the same.
        """
        text = self.cleaned_data["yaml"]
        try:
            group, lines = load_group_yaml_with_lines(text, source="yaml")
        except GroupSpecError:
            # The steps the schema refused are still checked against the registry.
            issues = check_group_text(text, source="yaml")[1]
            raise forms.ValidationError([str(issue) for issue in issues]) from None

        adding = self.instance._state.adding
        name_line = lines.get("metadata.name")
        if not adding and group.name != self.instance.name:
            raise forms.ValidationError(
                str(
                    SpecIssue(
                        "metadata.name",
                        f"the group is called {self.instance.name!r}; a name cannot "
                        f"change here (create {group.name!r} as a new group)",
                        name_line,
                        "yaml",
                    )
                )
            )
        if adding and GroupDefinition.objects.filter(name=group.name).exists():
            raise forms.ValidationError(
                str(
                    SpecIssue(
                        "metadata.name",
                        f"a group called {group.name!r} already exists; edit that "
                        "one instead",
                        name_line,
                        "yaml",
                    )
                )
            )
        # The planner's problems are placed in the document by line and path,
        # exactly as `groups validate` reports them for a file.
        problems = PlanResolver().problems(group)
        if problems:
            issues = problems_as_issues(group, problems, "yaml", lines)
            raise forms.ValidationError([str(issue) for issue in issues])
        self.group = group
        return text


@admin.register(GroupDefinition)
class GroupDefinitionAdmin(admin.ModelAdmin):
    """Groups edited as YAML; each save through storage is a new version."""

    form = GroupDefinitionForm
    list_display = [
        "name",
        "domain",
        "version",
        "is_active",
        "source",
        "step_count",
        "updated_at",
    ]
    list_filter = ["is_active", "domain", "source"]
    search_fields = ["name", "domain", "description"]
    ordering = ["name"]
    actions = ["run_groups", "deactivate_groups", "activate_groups"]
    info_fields = [
        "name",
        "domain",
        "version",
        "is_active",
        "source",
        "source_path",
        "description",
        "tags",
        "created_by",
        "created_at",
        "updated_at",
    ]

    class Media:
        css = {"all": ["pipeline_groups/admin.css"]}

    @admin.display(description="Steps")
    def step_count(self, obj: GroupDefinition) -> int:
        """Count the steps of the stored document."""
        return len(((obj.spec or {}).get("spec") or {}).get("pipelines") or [])

    @admin.display(description="Document")
    def document(self, obj: GroupDefinition) -> str:
        """Show the stored document read-only (yaml storage mode)."""
        return format_html('<pre class="yaml">{}</pre>', _document_yaml(obj.spec))

    @admin.display(description="Version history")
    def version_history(self, obj: GroupDefinition) -> str:
        """List every version, newest first, each with a diff against the previous."""
        versions = list(obj.versions.order_by("-version"))
        if not versions:
            return "No stored versions."

        rows = []
        for index, version in enumerate(versions):
            previous = versions[index + 1] if index + 1 < len(versions) else None
            rows.append(
                format_html(
                    "<tr><td>v{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    version.version,
                    date_format(version.created_at, "Y-m-d H:i:s"),
                    version.created_by or "–",
                    self._diff(previous, version),
                )
            )
        return format_html(
            '<table class="versions"><thead><tr><th>Version</th><th>Saved</th>'
            "<th>By</th><th>Change</th></tr></thead><tbody>{}</tbody></table>",
            mark_safe("".join(rows)),
        )

    @staticmethod
    def _diff(previous: GroupVersion | None, version: GroupVersion) -> str:
        if previous is None:
            return "first version"
        lines = difflib.unified_diff(
            _content_yaml(previous.spec).splitlines(),
            _content_yaml(version.spec).splitlines(),
            fromfile=f"v{previous.version}",
            tofile=f"v{version.version}",
            lineterm="",
        )
        return format_html(
            '<details><summary>diff against v{}</summary><pre class="diff">{}'
            "</pre></details>",
            previous.version,
            "\n".join(lines),
        )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        """Show the YAML editor, or the document read-only when it cannot change."""
        if obj is None:
            return [(None, {"fields": ["yaml"]})]
        document = "yaml" if self.has_change_permission(request, obj) else "document"
        return [
            (None, {"fields": [document]}),
            ("Stored", {"fields": self.info_fields}),
            ("History", {"fields": ["version_history"]}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list:
        """Everything but the document is the server's."""
        return [*self.info_fields, "document", "version_history"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Refuse additions while the YAML files own the groups."""
        return storage.storage_mode() != "yaml" and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse changes while the YAML files own the groups."""
        return storage.storage_mode() != "yaml" and super().has_change_permission(
            request, obj
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Never delete: runs keep pointing at their group; deactivate instead."""
        return False

    def has_run_group_permission(self, request: HttpRequest) -> bool:
        """Whether the user may start, cancel and retry runs."""
        return request.user.has_perm(RUN_PERMISSION)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        """Say why nothing can change when the YAML files own the groups."""
        if storage.storage_mode() == "yaml":
            messages.warning(request, _read_only_reason())
        return super().changelist_view(request, extra_context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        """Say why the document is read-only when the YAML files own the groups."""
        if storage.storage_mode() == "yaml" and request.method == "GET":
            messages.warning(request, _read_only_reason())
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(
        self,
        request: HttpRequest,
        obj: GroupDefinition,
        form: GroupDefinitionForm,
        change: bool,
    ) -> None:
        """Store the document through storage.save_group: a new version if changed."""
        storage.ensure_writable(form.group.name)
        definition, status = storage.save_group(
            form.group,
            source=GroupSource.ADMIN,
            created_by=request.user.get_username(),
        )
        obj.pk = definition.pk
        obj._state.adding = False
        obj.refresh_from_db()
        if status == "unchanged":
            messages.info(
                request, f"{obj.name}: nothing changed, still version {obj.version}."
            )
        else:
            messages.info(request, f"{obj.name} saved as version {obj.version}.")

    @admin.action(description="Run selected groups", permissions=["run_group"])
    def run_groups(self, request: HttpRequest, queryset: QuerySet) -> Any:
        """Start groups that need no run params; send others to the run form."""
        definitions = list(queryset)
        needs_params = []
        for definition in definitions:
            try:
                group = storage.group_from_definition(definition)
                if group.template_params():
                    needs_params.append(definition)
                    continue
                run = engine.start_run(
                    definition.name,
                    {},
                    trigger_source=TriggerSource.ADMIN,
                    created_by=request.user.get_username(),
                    backend=Backend.DJANGO_Q,
                )
            except SpineError as error:
                messages.error(request, f"{definition.name}: {error}")
                continue
            messages.success(request, f"Started run {run.pk} of {definition.name}.")

        if len(definitions) == 1 and needs_params:
            return redirect("run-group", name=needs_params[0].name)
        for definition in needs_params:
            url = reverse("run-group", args=[definition.name])
            messages.warning(
                request,
                format_html(
                    '{} needs run params: <a href="{}">start it from its form</a>.',
                    definition.name,
                    url,
                ),
            )
        return None

    @admin.action(description="Deactivate selected groups", permissions=["change"])
    def deactivate_groups(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Mark groups inactive: still readable, no longer runnable."""
        names = list(queryset.values_list("name", flat=True))
        for name in names:
            storage.deactivate_group(name)
        messages.success(request, f"Deactivated {len(names)} group(s).")

    @admin.action(description="Activate selected groups", permissions=["change"])
    def activate_groups(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Mark groups active again."""
        names = list(queryset.values_list("name", flat=True))
        for name in names:
            storage.activate_group(name)
        messages.success(request, f"Activated {len(names)} group(s).")


class GroupRunStepInline(admin.TabularInline):
    """Every step attempt of a run, read-only."""

    model = GroupRunExecution
    extra = 0
    can_delete = False
    ordering = ["sequence_order", "attempt"]
    fields = [
        "step_name",
        "attempt",
        "pipeline",
        "step_status",
        "started",
        "completed",
        "error_line",
        "execution_link",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Load each attempt's execution with it."""
        return super().get_queryset(request).select_related("execution")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse: steps are the engine's to add."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse: steps are the engine's to change."""
        return False

    @admin.display(description="Pipeline")
    def pipeline(self, obj: GroupRunExecution) -> str:
        """Name the pipeline the step ran."""
        return obj.execution.pipeline_name

    @admin.display(description="Status")
    def step_status(self, obj: GroupRunExecution) -> str:
        """Show the attempt's status with its symbol."""
        return _status_text(obj.execution.status)

    @admin.display(description="Started")
    def started(self, obj: GroupRunExecution) -> Any:
        """Show when the attempt started."""
        return obj.execution.started_at

    @admin.display(description="Completed")
    def completed(self, obj: GroupRunExecution) -> Any:
        """Show when the attempt ended."""
        return obj.execution.completed_at

    @admin.display(description="Error")
    def error_line(self, obj: GroupRunExecution) -> str:
        """Show the first line of the attempt's error."""
        return first_line(obj.execution.error)

    @admin.display(description="Execution")
    def execution_link(self, obj: GroupRunExecution) -> str:
        """Link to the execution with its events."""
        url = reverse("admin:pipeline_groups_execution_change", args=[obj.execution_id])
        return format_html('<a href="{}">{}</a>', url, obj.execution_id)


def _status_text(status: str) -> str:
    """Return a status as symbol and word, readable without colour."""
    badge = Badge.of(status)
    return f"{badge.symbol} {badge.label}"


@admin.register(GroupRun)
class GroupRunAdmin(admin.ModelAdmin):
    """Group runs with their steps inline; cancel and retry as actions."""

    list_display = [
        "id",
        "group_name",
        "group_version",
        "run_status",
        "trigger_source",
        "created_at",
        "duration",
        "created_by",
    ]
    list_filter = ["status", "group_name", "trigger_source", "backend"]
    search_fields = ["id", "group_name", "batch_id", "created_by"]
    date_hierarchy = "created_at"
    actions = ["cancel_runs", "retry_runs"]
    inlines = [GroupRunStepInline]
    fields = [
        "id",
        "group",
        "group_name",
        "group_version",
        "status",
        "trigger_source",
        "backend",
        "batch_id",
        "params",
        "created_by",
        "created_at",
        "started_at",
        "completed_at",
        "deadline_at",
        "cancel_requested_at",
        "error",
        "page_link",
    ]
    readonly_fields = fields

    @admin.display(description="Status", ordering="status")
    def run_status(self, obj: GroupRun) -> str:
        """Show the run's status with its symbol."""
        return _status_text(obj.status)

    @admin.display(description="Duration")
    def duration(self, obj: GroupRun) -> str:
        """Show how long the run took, or has taken so far."""
        return format_duration(obj.duration_seconds)

    @admin.display(description="Status page")
    def page_link(self, obj: GroupRun) -> str:
        """Link to the run page with its time axis and DAG."""
        url = reverse("run-detail", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, url)

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Refuse: runs start from a group (action, form, API), not a blank row."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Keep every run: its history is the record of what ran."""
        return False

    def has_run_group_permission(self, request: HttpRequest) -> bool:
        """Whether the user may start, cancel and retry runs."""
        return request.user.has_perm(RUN_PERMISSION)

    @admin.action(description="Cancel selected runs", permissions=["run_group"])
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Ask the engine to cancel each run; finished runs are reported."""
        who = request.user.get_username()
        for run_id in queryset.values_list("id", flat=True):
            try:
                engine.cancel_run(run_id, requested_by=who)
            except SpineError as error:
                messages.warning(request, str(error))
            else:
                messages.success(request, f"Cancel requested for run {run_id}.")

    @admin.action(description="Retry selected runs", permissions=["run_group"])
    def retry_runs(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Resume each finished, unsuccessful run in place."""
        who = request.user.get_username()
        for run_id in queryset.values_list("id", flat=True):
            try:
                engine.retry_run(run_id, requested_by=who)
            except SpineError as error:
                messages.warning(request, str(error))
            else:
                messages.success(request, f"Retrying run {run_id}.")
