"""Admin pages: executions with their timelines, events and the dead-letter queue.

Execution rows are written only by the engine, so their admin pages are for
reading: every field is read-only and nothing can be added or changed by hand.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from pipeline_groups.models import DeadLetter, Execution, ExecutionEvent


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

    @admin.display(description="Error")
    def short_error(self, obj: DeadLetter) -> str:
        """Show the first line of the error, which is the sentence that matters."""
        return (obj.error or "").splitlines()[0][:120] if obj.error else ""
