"""Query filters of the API lists (django-filter FilterSets).

Groups filter by `domain`, `active_only` (on unless `false`) and `search`; runs by
`group_name`, `status`, `trigger_source` and a `created_after`/`created_before`
range; dead letters by `pipeline_name` and whether they were replayed. An invalid
filter value is a 400 that names the filter.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField

from pipeline_groups.models import (
    DeadLetter,
    Execution,
    ExecutionStatus,
    GroupDefinition,
    GroupRun,
    RunStatus,
    TriggerSource,
)


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, turned into UTC so any database can compare with it."""

    def to_python(self, value: Any) -> dt.datetime | None:
        """Parse the time; a time that has no UTC equivalent is a 400."""
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(dt.UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError(
                "Enter a time between the years 1 and 9999 in UTC.", code="invalid"
            ) from None


class UtcDateTimeFilter(filters.IsoDateTimeFilter):
    """An ISO 8601 time filter whose value reaches the database in UTC."""

    field_class = UtcDateTimeField


# Yes/no filters refuse anything else with a 400 rather than ignoring it.
TRUE_WORDS = frozenset({"true", "1"})
BOOLEAN_CHOICES = [("true", "true"), ("false", "false"), ("1", "1"), ("0", "0")]


class GroupFilter(filters.FilterSet):
    """Filters of the group list; inactive groups are hidden unless asked for."""

    domain = filters.CharFilter(field_name="domain", help_text="Exact domain.")
    active_only = filters.ChoiceFilter(
        choices=BOOLEAN_CHOICES,
        method="filter_active_only",
        help_text="Only active groups (the default); `false` shows inactive too.",
    )
    search = filters.CharFilter(
        method="filter_search",
        help_text="Case-insensitive text in the name, domain or description.",
    )

    class Meta:
        model = GroupDefinition
        fields = ["domain", "active_only", "search"]

    def filter_active_only(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Keep only active groups when asked (`false` keeps every group)."""
        return queryset.filter(is_active=True) if value in TRUE_WORDS else queryset

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Match the text anywhere in the name, domain or description."""
        return queryset.filter(
            Q(name__icontains=value)
            | Q(domain__icontains=value)
            | Q(description__icontains=value)
        )

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        """Apply the filters, hiding inactive groups when `active_only` is absent."""
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get("active_only"):
            queryset = queryset.filter(is_active=True)
        return queryset


class GroupRunFilter(filters.FilterSet):
    """Filters of the run list."""

    group_name = filters.CharFilter(field_name="group_name")
    status = filters.ChoiceFilter(field_name="status", choices=RunStatus.choices)
    trigger_source = filters.ChoiceFilter(
        field_name="trigger_source", choices=TriggerSource.choices
    )
    created_after = UtcDateTimeFilter(
        field_name="created_at",
        lookup_expr="gte",
        help_text="Runs created at or after this ISO 8601 time.",
    )
    created_before = UtcDateTimeFilter(
        field_name="created_at",
        lookup_expr="lt",
        help_text="Runs created before this ISO 8601 time.",
    )

    class Meta:
        model = GroupRun
        fields = [
            "group_name",
            "status",
            "trigger_source",
            "created_after",
            "created_before",
        ]


class ExecutionFilter(filters.FilterSet):
    """Filters of the execution list."""

    pipeline_name = filters.CharFilter(field_name="pipeline_name")
    status = filters.ChoiceFilter(field_name="status", choices=ExecutionStatus.choices)
    batch_id = filters.CharFilter(field_name="batch_id")

    class Meta:
        model = Execution
        fields = ["pipeline_name", "status", "batch_id"]


class DeadLetterFilter(filters.FilterSet):
    """Filters of the dead-letter queue."""

    pipeline_name = filters.CharFilter(field_name="pipeline_name")
    replayed = filters.ChoiceFilter(
        choices=BOOLEAN_CHOICES,
        method="filter_replayed",
        help_text="`false` lists only the letters still waiting for a replay.",
    )

    class Meta:
        model = DeadLetter
        fields = ["pipeline_name", "replayed"]

    def filter_replayed(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Keep the replayed letters (`true`) or those still waiting (`false`)."""
        return queryset.filter(replayed_at__isnull=value not in TRUE_WORDS)
