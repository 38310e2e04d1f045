"""The tables of pipeline groups, their runs and every execution, as in the RFC.

Statuses are named once here, with the sets that the engine, the API and the pages
reason about, so no list of status strings is repeated anywhere else. Rows are
only ever moved between statuses by the engine's conditional updates; the models
carry no behaviour that writes.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone
from ulid import ULID


def new_ulid() -> str:
    """Return a sortable, unique id: newer rows sort after older ones."""
    return str(ULID())


def new_batch_id(prefix: str) -> str:
    """Return a batch id such as `group_finra.weekly_refresh_20260109T120000_abc123`."""
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
    return f"{prefix}_{stamp}_{secrets.token_hex(3)}"


class StepStatus(models.TextChoices):
    """Where one execution (and so one step attempt) stands."""

    PENDING = "pending", "Pending"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled"


# An execution is the record of one pipeline run, alone or as a step of a group.
ExecutionStatus = StepStatus

STEP_TERMINAL = frozenset(
    {
        StepStatus.COMPLETED,
        StepStatus.FAILED,
        StepStatus.SKIPPED,
        StepStatus.CANCELLED,
    }
)
STEP_ACTIVE = frozenset({StepStatus.QUEUED, StepStatus.RUNNING})
# What a retry or a replay runs again.
STEP_RETRYABLE = frozenset(
    {StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED}
)


class RunStatus(models.TextChoices):
    """Where a group run stands, aggregated from its steps (RFC 3.6.2)."""

    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


RUN_TERMINAL = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})
RUN_ACTIVE = frozenset({RunStatus.PENDING, RunStatus.RUNNING})


class TriggerSource(models.TextChoices):
    """Who asked for a run or an execution."""

    CLI = "cli", "Command line"
    API = "api", "REST API"
    SCHEDULER = "scheduler", "Scheduler"
    ADMIN = "admin", "Admin"
    UI = "ui", "Status page"
    REPLAY = "replay", "Dead-letter replay"


class EventKind(models.TextChoices):
    """What happened to an execution; the timeline is append-only."""

    QUEUED = "queued", "Queued"
    STARTED = "started", "Started"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    SKIPPED = "skipped", "Skipped"
    REAPED = "reaped", "Reaped"
    REDISPATCHED = "redispatched", "Re-dispatched"
    CANCEL_REQUESTED = "cancel_requested", "Cancel requested"


class GroupSource(models.TextChoices):
    """Where a group definition came from, which decides who may change it."""

    API = "api", "REST API"
    ADMIN = "admin", "Admin"
    FILE = "file", "YAML file"
    PYTHON = "python", "Python module"


class Backend(models.TextChoices):
    """Who runs the ready steps of a group run."""

    INLINE = "inline", "Threads in the calling process"
    DJANGO_Q = "django_q", "django-q2 workers"


class GroupDefinition(models.Model):
    """A named, versioned group of pipeline steps (`pipeline_groups`)."""

    id = models.CharField(primary_key=True, max_length=26, default=new_ulid)
    name = models.CharField(max_length=200, unique=True)
    domain = models.CharField(max_length=200)
    version = models.PositiveIntegerField(default=1)
    description = models.TextField(blank=True, default="")
    spec = models.JSONField(
        help_text="The whole document: apiVersion, kind, metadata, spec."
    )
    tags = models.JSONField(default=list, blank=True)
    source = models.CharField(
        max_length=16, choices=GroupSource.choices, default=GroupSource.API
    )
    source_path = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=150, blank=True, default="")
    is_active = models.BooleanField(default=True)

    class Meta:
        db_table = "pipeline_groups"
        ordering = ["name"]
        # RFC 3.3.2 names both indexes.
        indexes = [
            models.Index(fields=["domain"], name="idx_pipeline_groups_domain"),
            models.Index(
                fields=["is_active"],
                name="idx_pipeline_groups_active",
                condition=Q(is_active=True),
            ),
        ]
        permissions = [("run_group", "Can run, cancel and retry group runs")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class GroupVersion(models.Model):
    """Every saved version of a group's spec, so a run can show what it ran."""

    group = models.ForeignKey(
        GroupDefinition, on_delete=models.CASCADE, related_name="versions"
    )
    version = models.PositiveIntegerField()
    spec = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        db_table = "pipeline_group_versions"
        ordering = ["group", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "version"], name="uniq_group_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group.name} v{self.version}"


class GroupRun(models.Model):
    """One run of a group: its frozen plan, its params and its aggregated status."""

    id = models.CharField(primary_key=True, max_length=26, default=new_ulid)
    group = models.ForeignKey(
        GroupDefinition, on_delete=models.PROTECT, related_name="runs"
    )
    group_name = models.CharField(max_length=200)
    group_version = models.PositiveIntegerField()
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING
    )
    trigger_source = models.CharField(max_length=16, choices=TriggerSource.choices)
    backend = models.CharField(
        max_length=16, choices=Backend.choices, default=Backend.DJANGO_Q
    )
    batch_id = models.CharField(max_length=300, unique=True)
    plan = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        db_table = "group_runs"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status"], name="idx_group_runs_status"),
            models.Index(
                fields=["group_name", "-created_at"], name="idx_group_runs_group"
            ),
            models.Index(fields=["-created_at"], name="idx_group_runs_created"),
        ]

    def __str__(self) -> str:
        return f"{self.group_name} run {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        """Whether nothing of this run can change any more without a retry."""
        return self.status in RUN_TERMINAL

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from the first step's start to the end, or to now while running."""
        if self.started_at is None:
            return None
        end = self.completed_at or timezone.now()
        return round((end - self.started_at).total_seconds(), 3)


class Execution(models.Model):
    """One run of one pipeline, alone or as an attempt of a group step."""

    id = models.CharField(primary_key=True, max_length=26, default=new_ulid)
    pipeline_name = models.CharField(max_length=200, db_index=True)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=ExecutionStatus.choices, default=ExecutionStatus.PENDING
    )
    trigger_source = models.CharField(max_length=16, choices=TriggerSource.choices)
    batch_id = models.CharField(max_length=300, db_index=True)
    logical_key = models.CharField(max_length=300, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, default="")
    error = models.TextField(blank=True, default="")
    traceback = models.TextField(blank=True, default="")
    result = models.JSONField(null=True, blank=True)

    class Meta:
        db_table = "executions"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status"], name="idx_executions_status"),
            models.Index(
                fields=["logical_key", "status"], name="idx_executions_logical_key"
            ),
            models.Index(
                fields=["pipeline_name", "-created_at"],
                name="idx_executions_pipeline",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline_name} {self.id} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        """Seconds the pipeline body ran, or has run so far."""
        if self.started_at is None:
            return None
        end = self.completed_at or timezone.now()
        return round((end - self.started_at).total_seconds(), 3)


class GroupRunExecution(models.Model):
    """One attempt of one step of a group run; inserting it claims the attempt."""

    group_run = models.ForeignKey(
        GroupRun, on_delete=models.CASCADE, related_name="step_executions"
    )
    execution = models.OneToOneField(
        Execution, on_delete=models.CASCADE, related_name="group_step"
    )
    step_name = models.CharField(max_length=200)
    sequence_order = models.PositiveIntegerField()
    attempt = models.PositiveIntegerField(default=1)

    class Meta:
        db_table = "group_run_executions"
        ordering = ["group_run", "sequence_order", "attempt"]
        constraints = [
            models.UniqueConstraint(
                fields=["group_run", "step_name", "attempt"],
                name="uniq_group_run_step_attempt",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.step_name} attempt {self.attempt} of run {self.group_run_id}"


class ExecutionEvent(models.Model):
    """An append-only line of an execution's timeline."""

    execution = models.ForeignKey(
        Execution, on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    created_at = models.DateTimeField(default=timezone.now)
    message = models.TextField(blank=True, default="")

    class Meta:
        db_table = "execution_events"
        ordering = ["execution", "created_at", "id"]
        indexes = [
            models.Index(
                fields=["execution", "created_at"], name="idx_events_execution"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.execution_id} at {self.created_at:%H:%M:%S}"


class DeadLetter(models.Model):
    """A failed execution waiting for a person to replay or dismiss it."""

    id = models.CharField(primary_key=True, max_length=26, default=new_ulid)
    execution = models.OneToOneField(
        Execution, on_delete=models.CASCADE, related_name="dead_letter"
    )
    pipeline_name = models.CharField(max_length=200)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    replayed_at = models.DateTimeField(null=True, blank=True)
    replay_execution = models.ForeignKey(
        Execution,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="replay_of",
    )

    class Meta:
        db_table = "dead_letters"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["replayed_at"],
                name="idx_dead_letters_waiting",
                condition=Q(replayed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline_name} {self.execution_id}"
