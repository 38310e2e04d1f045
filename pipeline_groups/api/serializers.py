"""Request and response bodies of the API, with the field names of RFC 3.5.3.

Groups and runs are read-only shapes: a group is written by the definition layer
(`storage.save_group` after the YAML loader validated the document) and a run only
changes through the engine, so these serializers never save. Step status and the
reason a step waits come from the engine's `describe_run`, not from the models.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from pipeline_groups.models import (
    DeadLetter,
    EventKind,
    Execution,
    ExecutionEvent,
    ExecutionStatus,
    GroupDefinition,
    RunStatus,
    TriggerSource,
)


def document_steps(document: Any) -> list[dict[str, Any]]:
    """Return the steps of a stored group document, read defensively."""
    spec = document.get("spec") if isinstance(document, dict) else None
    steps = spec.get("pipelines") if isinstance(spec, dict) else None
    if not isinstance(steps, list):
        return []
    return [step for step in steps if isinstance(step, dict)]


class ErrorEntrySerializer(serializers.Serializer):
    """One thing that is wrong: where, what, and the line of a YAML body."""

    path = serializers.CharField(
        help_text="Field or document path, e.g. spec.pipelines[2].depends_on[0]."
    )
    message = serializers.CharField()
    line = serializers.IntegerField(allow_null=True, required=False)


class ErrorSerializer(serializers.Serializer):
    """The body of every error under /api/."""

    detail = serializers.CharField(help_text="What is wrong, in one sentence.")
    code = serializers.CharField(help_text="A stable, machine-readable code.")
    errors = ErrorEntrySerializer(many=True)
    group = serializers.CharField(required=False, help_text="The group at fault.")
    step = serializers.CharField(required=False, help_text="The step at fault.")
    parameter = serializers.CharField(
        required=False, help_text="The parameter at fault."
    )


class GroupMetadataSerializer(serializers.Serializer):
    """The `metadata` of a group document (documentation of the request body)."""

    name = serializers.CharField(help_text="Dotted name, e.g. finra.weekly_refresh.")
    domain = serializers.CharField(required=False)
    version = serializers.IntegerField(
        required=False, help_text="Ignored: versions belong to the server."
    )
    description = serializers.CharField(required=False, allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField(), required=False)


class GroupDocumentStepSerializer(serializers.Serializer):
    """One entry of `spec.pipelines` in a group document."""

    name = serializers.CharField()
    pipeline = serializers.CharField()
    depends_on = serializers.ListField(child=serializers.CharField(), required=False)
    params = serializers.DictField(required=False)


class GroupPolicySerializer(serializers.Serializer):
    """The `spec.policy` of a group document."""

    execution = serializers.ChoiceField(
        choices=["sequential", "parallel"], required=False
    )
    max_concurrency = serializers.IntegerField(required=False, min_value=1)
    on_failure = serializers.ChoiceField(choices=["stop", "continue"], required=False)
    timeout_minutes = serializers.FloatField(required=False, allow_null=True)


class GroupSpecSerializer(serializers.Serializer):
    """The `spec` section of a group document."""

    defaults = serializers.DictField(required=False)
    pipelines = GroupDocumentStepSerializer(many=True)
    policy = GroupPolicySerializer(required=False)


class GroupDocumentSerializer(serializers.Serializer):
    """A whole group document, as in a file under groups/ (body and detail)."""

    apiVersion = serializers.CharField(help_text="spine.io/v1")  # noqa: N815
    kind = serializers.CharField(help_text="PipelineGroup")
    metadata = GroupMetadataSerializer()
    spec = GroupSpecSerializer()


class GroupSummarySerializer(serializers.ModelSerializer):
    """A group in a list (RFC 3.5.3 GroupSummary)."""

    description = serializers.CharField(allow_null=True, read_only=True)
    step_count = serializers.SerializerMethodField()
    tags = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = GroupDefinition
        fields = [
            "name",
            "domain",
            "version",
            "description",
            "step_count",
            "is_active",
            "tags",
        ]
        read_only_fields = fields

    def get_step_count(self, group: GroupDefinition) -> int:
        """Count the steps of the stored document."""
        return len(document_steps(group.spec))


class GroupStepSerializer(serializers.Serializer):
    """One step as written in the group document."""

    name = serializers.CharField()
    pipeline = serializers.CharField()
    depends_on = serializers.ListField(child=serializers.CharField())
    params = serializers.DictField()


class GroupDetailSerializer(GroupSummarySerializer):
    """One group (RFC 3.5.3 GroupDetail): the whole document and its steps."""

    spec = serializers.SerializerMethodField(
        help_text="The whole document: apiVersion, kind, metadata and spec."
    )
    steps = serializers.SerializerMethodField()

    class Meta(GroupSummarySerializer.Meta):
        fields = [
            *GroupSummarySerializer.Meta.fields,
            "spec",
            "steps",
            "source",
            "created_at",
            "updated_at",
            "created_by",
        ]
        read_only_fields = fields

    @extend_schema_field(GroupDocumentSerializer)
    def get_spec(self, group: GroupDefinition) -> dict[str, Any]:
        """Return the stored document, the same one a YAML export writes."""
        return group.spec

    @extend_schema_field(GroupStepSerializer(many=True))
    def get_steps(self, group: GroupDefinition) -> list[dict[str, Any]]:
        """List each step's name, pipeline, dependencies and own params."""
        return [
            {
                "name": str(step.get("name", "")),
                "pipeline": str(step.get("pipeline", "")),
                "depends_on": list(step.get("depends_on") or []),
                "params": dict(step.get("params") or {}),
            }
            for step in document_steps(group.spec)
        ]


class RunRequestSerializer(serializers.Serializer):
    """The body of a run request: the run params the group's templates read.

    Any other key is refused: a misspelt `params` would otherwise start a run
    on the group's defaults alone, without a word.
    """

    params = serializers.DictField(
        required=False,
        default=dict,
        help_text='Run params, e.g. {"tier": "NMS_TIER_1"}.',
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Refuse keys other than `params`, naming each one."""
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            message = "unknown field; the body takes only `params`"
            raise serializers.ValidationError({name: message for name in unknown})
        return attrs


class StepStatusSerializer(serializers.Serializer):
    """One step of a run (RFC 3.5.3 StepStatus), as the engine describes it."""

    step_name = serializers.CharField()
    pipeline_name = serializers.CharField()
    execution_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=ExecutionStatus.choices)
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    attempt = serializers.IntegerField(
        help_text="Attempt number of the latest execution (0 before the first)."
    )
    duration_seconds = serializers.FloatField(allow_null=True)
    reason = serializers.CharField(
        allow_null=True, help_text="Why the step is not running, when it is not."
    )
    depends_on = serializers.ListField(child=serializers.CharField())
    param_sources = serializers.DictField(
        child=serializers.CharField(),
        help_text="Where each parameter came from: default, run or step.",
    )


class GroupRunSummarySerializer(serializers.Serializer):
    """A run in a list (RFC 3.5.3 GroupRunSummary)."""

    id = serializers.CharField()
    group_name = serializers.CharField()
    group_version = serializers.IntegerField()
    status = serializers.ChoiceField(choices=RunStatus.choices)
    trigger_source = serializers.ChoiceField(choices=TriggerSource.choices)
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.FloatField(allow_null=True)
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(allow_blank=True)
    step_count = serializers.IntegerField()
    step_counts = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="How many steps are in each status.",
    )


class GroupRunDetailSerializer(GroupRunSummarySerializer):
    """One run with its steps (RFC 3.5.3 GroupRunDetail)."""

    params = serializers.DictField()
    batch_id = serializers.CharField()
    backend = serializers.CharField()
    cancel_requested_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    steps = StepStatusSerializer(many=True)


class ExecutionEventSerializer(serializers.ModelSerializer):
    """One line of an execution's timeline."""

    kind = serializers.ChoiceField(choices=EventKind.choices)

    class Meta:
        model = ExecutionEvent
        fields = ["kind", "created_at", "message"]
        read_only_fields = fields


class ExecutionSerializer(serializers.ModelSerializer):
    """One pipeline execution with its events (DESIGN.md section 6)."""

    params = serializers.DictField(
        read_only=True, help_text="The params the pipeline was called with."
    )
    result = serializers.JSONField(
        allow_null=True,
        help_text="What the pipeline returned, as JSON (any JSON value), or null.",
    )
    error = serializers.CharField(allow_null=True)
    duration_seconds = serializers.FloatField(allow_null=True)
    group_run_id = serializers.SerializerMethodField()
    step_name = serializers.SerializerMethodField()
    attempt = serializers.SerializerMethodField()
    events = ExecutionEventSerializer(many=True)

    class Meta:
        model = Execution
        fields = [
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
            "duration_seconds",
            "worker",
            "error",
            "traceback",
            "result",
            "group_run_id",
            "step_name",
            "attempt",
            "events",
        ]
        read_only_fields = fields

    def _step(self, execution: Execution) -> Any:
        try:
            return execution.group_step
        except Execution.group_step.RelatedObjectDoesNotExist:
            return None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_group_run_id(self, execution: Execution) -> str | None:
        """Return the run this execution is a step attempt of, if any."""
        step = self._step(execution)
        return step.group_run_id if step else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_step_name(self, execution: Execution) -> str | None:
        """Return the step of the run this execution is an attempt of, if any."""
        step = self._step(execution)
        return step.step_name if step else None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_attempt(self, execution: Execution) -> int | None:
        """Which attempt of its step this execution is, if it belongs to a run."""
        step = self._step(execution)
        return step.attempt if step else None


class DeadLetterSerializer(serializers.ModelSerializer):
    """A failed execution waiting in the dead-letter queue."""

    execution = serializers.CharField(source="execution_id", read_only=True)
    replay_execution = serializers.CharField(
        source="replay_execution_id", read_only=True, allow_null=True
    )
    group_run_id = serializers.SerializerMethodField()

    class Meta:
        model = DeadLetter
        fields = [
            "id",
            "execution",
            "pipeline_name",
            "error",
            "created_at",
            "replayed_at",
            "replay_execution",
            "group_run_id",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_group_run_id(self, letter: DeadLetter) -> str | None:
        """Return the run whose step failed, so a replay's target is visible."""
        try:
            return letter.execution.group_step.group_run_id
        except Execution.group_step.RelatedObjectDoesNotExist:
            return None


class PipelineParameterSerializer(serializers.Serializer):
    """One named parameter of a pipeline's signature."""

    name = serializers.CharField()
    required = serializers.BooleanField()
    default = serializers.JSONField(
        allow_null=True,
        help_text="The default value as JSON (any JSON value); null when required.",
    )


class PipelineSerializer(serializers.Serializer):
    """A registered pipeline and what its signature accepts."""

    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    logical_key = serializers.CharField(allow_null=True)
    accepts_any = serializers.BooleanField(
        help_text="Whether the pipeline takes **params, so every param reaches it."
    )
    parameters = PipelineParameterSerializer(many=True)


class PlannedStepSerializer(serializers.Serializer):
    """One step of a resolved plan, with its merged params."""

    step_name = serializers.CharField()
    pipeline_name = serializers.CharField()
    params = serializers.DictField()
    depends_on = serializers.ListField(child=serializers.CharField())
    sequence_order = serializers.IntegerField()
    param_sources = serializers.DictField(child=serializers.CharField())


class PlanSerializer(serializers.Serializer):
    """A resolved execution plan: what a run with these params would do."""

    group_name = serializers.CharField()
    group_version = serializers.IntegerField()
    batch_id = serializers.CharField()
    params = serializers.DictField()
    policy = serializers.DictField()
    steps = PlannedStepSerializer(many=True)
