"""Turn a group and a run's params into an execution plan, or say why not.

Resolution follows a fixed order (DESIGN.md section 3): pipelines registered,
step names unique and dependencies known, the graph acyclic, a deterministic
topological order, params merged `defaults < run params < step params` with
templates rendered, and each step's params checked against its pipeline's
signature. Each failure is its own `PlanResolutionError` subclass naming the
group, the step and the value. The plan is plain data and serialises to JSON,
so a run can freeze exactly what it will do.
"""

from __future__ import annotations

import copy
import graphlib
import heapq
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pipeline_groups import templating
from pipeline_groups.exceptions import (
    CycleError,
    DuplicateStepError,
    GroupSpecError,
    MissingRunParameterError,
    PipelineNotFoundError,
    PlanResolutionError,
    SpecIssue,
    StepParameterError,
    TemplateError,
    UnknownDependencyError,
    UnknownPipelineError,
    closest_names,
)
from pipeline_groups.registry import PipelineInfo, get_pipeline
from pipeline_groups.spec import ExecutionPolicy, PipelineGroup, PipelineStep
from pipeline_groups.yaml_spec import (
    load_group_yaml_with_lines,
    parse_group_yaml,
    salvage_group,
    validate_document,
)

ParamSource = Literal["default", "run", "step"]


def new_group_batch_id(group_name: str) -> str:
    """Return `group_<name>_<UTC yyyymmddThhmmss>_<6 hex>`, shared by a run's steps."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"group_{group_name}_{stamp}_{secrets.token_hex(3)}"


@dataclass
class PlannedStep:
    """One step as it will run: its pipeline, final params and their origin."""

    step_name: str
    pipeline_name: str
    params: dict[str, Any]
    depends_on: list[str]
    sequence_order: int
    param_sources: dict[str, ParamSource] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the step as plain JSON data."""
        return {
            "step_name": self.step_name,
            "pipeline_name": self.pipeline_name,
            "params": copy.deepcopy(self.params),
            "depends_on": list(self.depends_on),
            "sequence_order": self.sequence_order,
            "param_sources": dict(self.param_sources),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlannedStep:
        """Read a step written by `to_json`."""
        return cls(
            step_name=data["step_name"],
            pipeline_name=data["pipeline_name"],
            params=dict(data.get("params", {})),
            depends_on=list(data.get("depends_on", [])),
            sequence_order=int(data["sequence_order"]),
            param_sources=dict(data.get("param_sources", {})),
        )


@dataclass
class ExecutionPlan:
    """A resolved group: steps in the order they may start, frozen on the run."""

    group_name: str
    group_version: int
    batch_id: str
    steps: list[PlannedStep]
    policy: ExecutionPolicy
    params: dict[str, Any] = field(default_factory=dict)

    def step(self, name: str) -> PlannedStep:
        """Return the planned step of this name (KeyError when there is none)."""
        for planned in self.steps:
            if planned.step_name == name:
                return planned
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """Return the plan as plain JSON data."""
        return {
            "group_name": self.group_name,
            "group_version": self.group_version,
            "batch_id": self.batch_id,
            "params": copy.deepcopy(self.params),
            "policy": self.policy.to_document(),
            "steps": [planned.to_json() for planned in self.steps],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExecutionPlan:
        """Read a plan written by `to_json`."""
        return cls(
            group_name=data["group_name"],
            group_version=int(data["group_version"]),
            batch_id=data["batch_id"],
            steps=[PlannedStep.from_json(item) for item in data["steps"]],
            policy=ExecutionPolicy.from_document(data.get("policy", {})),
            params=dict(data.get("params", {})),
        )


class PlanResolver:
    """Resolve groups into plans against the process's pipeline registry."""

    def resolve(
        self,
        group: PipelineGroup,
        params: Mapping[str, Any] | None = None,
        *,
        batch_id: str | None = None,
    ) -> ExecutionPlan:
        """Return the plan for running `group` with the run's `params`.

        Raises the first `PlanResolutionError` found, checking in the order of
        DESIGN.md section 3.
        """
        run_params = dict(params or {})
        pipelines = self._pipelines(group)
        self._check_graph(group)
        order = self.order(group)

        planned = [
            self._plan_step(group, group.steps[index], pipelines, run_params, position)
            for position, index in enumerate(order)
        ]
        return ExecutionPlan(
            group_name=group.name,
            group_version=group.version,
            batch_id=batch_id or new_group_batch_id(group.name),
            steps=planned,
            policy=copy.deepcopy(group.policy),
            params=run_params,
        )

    def validate(self, group: PipelineGroup) -> None:
        """Raise the first problem found that needs no run params to see."""
        problems = self.problems(group)
        if problems:
            raise problems[0]

    def problems(self, group: PipelineGroup) -> list[PlanResolutionError]:
        """Return every problem that needs no run params: registry, graph, params.

        `groups validate` and the API show them all at once.
        """
        found: list[PlanResolutionError] = []
        pipelines: dict[str, PipelineInfo] = {}
        for step in group.steps:
            try:
                pipelines[step.name] = get_pipeline(step.pipeline)
            except PipelineNotFoundError as error:
                found.append(self._unknown_pipeline(group, step, error))

        graph = self._graph_problems(group)
        found.extend(graph)
        found.extend(self._template_problems(group))

        for step in group.steps:
            info = pipelines.get(step.name)
            unexpected = [] if info is None else self._unexpected(info, step)
            if unexpected:
                found.append(
                    StepParameterError(
                        group=group.name,
                        step=step.name,
                        pipeline=step.pipeline,
                        unexpected=unexpected,
                    )
                )
        return found

    def order(self, group: PipelineGroup) -> list[int]:
        """Return step indexes in plan order: Kahn, earliest-declared ready first.

        The graph must already be checked (unique names, known dependencies);
        a cycle raises `CycleError`.
        """
        index_of = {step.name: index for index, step in enumerate(group.steps)}
        sorter: graphlib.TopologicalSorter[int] = graphlib.TopologicalSorter()
        for index, step in enumerate(group.steps):
            sorter.add(index, *(index_of[name] for name in step.depends_on))
        try:
            sorter.prepare()
        except graphlib.CycleError as error:
            raise self._cycle_error(group, error.args[1]) from None

        # graphlib hands out ready nodes in batches; the heap picks by declaration.
        ready = list(sorter.get_ready())
        heapq.heapify(ready)
        order: list[int] = []
        while ready:
            index = heapq.heappop(ready)
            order.append(index)
            sorter.done(index)
            for newly_ready in sorter.get_ready():
                heapq.heappush(ready, newly_ready)
        return order

    # Checks, each raising or returning the plan errors of DESIGN.md section 3.

    @staticmethod
    def _unknown_pipeline(
        group: PipelineGroup, step: PipelineStep, error: PipelineNotFoundError
    ) -> UnknownPipelineError:
        return UnknownPipelineError(
            group=group.name,
            step=step.name,
            pipeline=step.pipeline,
            suggestions=error.suggestions,
        )

    def _pipelines(self, group: PipelineGroup) -> dict[str, PipelineInfo]:
        pipelines = {}
        for step in group.steps:
            try:
                pipelines[step.name] = get_pipeline(step.pipeline)
            except PipelineNotFoundError as error:
                raise self._unknown_pipeline(group, step, error) from None
        return pipelines

    def _check_graph(self, group: PipelineGroup) -> None:
        problems = self._graph_problems(group)
        if problems:
            raise problems[0]

    def _graph_problems(self, group: PipelineGroup) -> list[PlanResolutionError]:
        found: list[PlanResolutionError] = []
        names: set[str] = set()
        for step in group.steps:
            if step.name in names:
                found.append(DuplicateStepError(group=group.name, step=step.name))
            names.add(step.name)

        for step in group.steps:
            for dependency in step.depends_on:
                if dependency not in names:
                    found.append(
                        UnknownDependencyError(
                            group=group.name,
                            step=step.name,
                            dependency=dependency,
                            suggestions=closest_names(dependency, names),
                        )
                    )
        if found:
            return found

        try:
            self.order(group)
        except CycleError as error:
            found.append(error)
        return found

    @staticmethod
    def _cycle_error(group: PipelineGroup, cycle: list[int]) -> CycleError:
        """Name the cycle upstream to downstream, from its earliest-declared step."""
        # graphlib lists each node before the node that depends on it.
        ring = list(cycle[:-1])
        start = ring.index(min(ring))
        ring = ring[start:] + ring[:start]
        names = [group.steps[index].name for index in ring]
        return CycleError(group=group.name, cycle=[*names, names[0]])

    def _template_problems(self, group: PipelineGroup) -> list[PlanResolutionError]:
        found: list[PlanResolutionError] = []
        for problem in templating.find_problems(group.defaults):
            found.append(
                TemplateError(
                    group=group.name,
                    step=None,
                    parameter=problem.path,
                    template=problem.text,
                )
            )
        for step in group.steps:
            for problem in templating.find_problems(step.params):
                found.append(
                    TemplateError(
                        group=group.name,
                        step=step.name,
                        parameter=problem.path,
                        template=problem.text,
                    )
                )
        return found

    @staticmethod
    def _unexpected(info: PipelineInfo, step: PipelineStep) -> list[str]:
        return [name for name in step.params if not info.accepts(name)]

    # Params.

    def _plan_step(
        self,
        group: PipelineGroup,
        step: PipelineStep,
        pipelines: Mapping[str, PipelineInfo],
        run_params: Mapping[str, Any],
        position: int,
    ) -> PlannedStep:
        info = pipelines[step.name]
        merged, sources = merge_params(group.defaults, run_params, step.params)

        # Params the pipeline does not take are not passed, so not rendered either;
        # only a step's own params must all be accepted.
        unexpected = self._unexpected(info, step)
        selected = info.select(merged)
        rendered = {
            name: self._render(group, step, name, value, run_params)
            if sources[name] != "run"
            else value
            for name, value in selected.items()
        }

        missing = [name for name in info.required if name not in rendered]
        if missing or unexpected:
            raise StepParameterError(
                group=group.name,
                step=step.name,
                pipeline=step.pipeline,
                missing=missing,
                unexpected=unexpected,
            )
        return PlannedStep(
            step_name=step.name,
            pipeline_name=step.pipeline,
            params=rendered,
            depends_on=list(step.depends_on),
            sequence_order=position,
            param_sources={name: sources[name] for name in rendered},
        )

    @staticmethod
    def _render(
        group: PipelineGroup,
        step: PipelineStep,
        name: str,
        value: Any,
        run_params: Mapping[str, Any],
    ) -> Any:
        try:
            return templating.render(value, run_params)
        except templating.MissingParameter as error:
            raise MissingRunParameterError(
                group=group.name,
                step=step.name,
                parameter=name,
                template=error.template,
                name=error.name,
            ) from None
        except templating.InvalidTemplate as error:
            raise TemplateError(
                group=group.name, step=step.name, parameter=name, template=error.text
            ) from None


def merge_params(
    defaults: Mapping[str, Any],
    run_params: Mapping[str, Any],
    step_params: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, ParamSource]]:
    """Merge `defaults < run params < step params`, noting where each came from."""
    merged: dict[str, Any] = {}
    sources: dict[str, ParamSource] = {}
    layers: tuple[tuple[ParamSource, Mapping[str, Any]], ...] = (
        ("default", defaults),
        ("run", run_params),
        ("step", step_params),
    )
    for source, layer in layers:
        for name, value in layer.items():
            merged[name] = copy.deepcopy(value)
            sources[name] = source
    return merged, sources


def _problem_path(
    group: PipelineGroup,
    problem: PlanResolutionError,
    positions: Mapping[str, int],
) -> str:
    """Return where in the group document a plan problem lies."""
    position = positions.get(problem.step or "")
    if position is None:
        if isinstance(problem, TemplateError):
            return f"spec.defaults.{problem.parameter}"
        return "spec.pipelines"
    step_path = f"spec.pipelines[{position}]"
    step = group.step(problem.step or "")
    if isinstance(problem, UnknownPipelineError):
        return f"{step_path}.pipeline"
    if isinstance(problem, UnknownDependencyError):
        slot = step.depends_on.index(problem.dependency)
        return f"{step_path}.depends_on[{slot}]"
    if isinstance(problem, CycleError):
        return f"{step_path}.depends_on"
    if isinstance(problem, TemplateError):
        return f"{step_path}.params.{problem.parameter}"
    if isinstance(problem, StepParameterError) and problem.unexpected:
        return f"{step_path}.params.{problem.unexpected[0]}"
    if isinstance(problem, DuplicateStepError):
        return f"{step_path}.name"
    return step_path


def problems_as_issues(
    group: PipelineGroup,
    problems: list[PlanResolutionError],
    source: str = "<string>",
    lines: Mapping[str, int] | None = None,
    positions: Mapping[str, int] | None = None,
) -> list[SpecIssue]:
    """Place plan problems in the group's document, as a file's spec issues are.

    `positions` gives each step's index in `spec.pipelines` when the group
    holds only some of the document's steps (see `yaml_spec.salvage_group`).
    """
    if positions is None:
        positions = {step.name: index for index, step in enumerate(group.steps)}
    issues = []
    for problem in problems:
        path = _problem_path(group, problem, positions)
        line = None
        if lines is not None:
            probe = path
            while line is None and probe:
                line = lines.get(probe)
                probe = probe.rsplit(".", 1)[0] if "." in probe else ""
        message = str(problem).split(": ", 1)[-1]
        issues.append(SpecIssue(path, message, line, source))
    return issues


# Problems a salvaged document can still show: the schema reports the others.
_SALVAGED_PROBLEMS = (UnknownPipelineError, StepParameterError, CycleError)


def check_group_text(
    text: str, source: str = "<string>"
) -> tuple[PipelineGroup | None, list[SpecIssue]]:
    """Read a group document and find every problem that needs no run params.

    Schema, registry, graph and step params against signatures, placed by line
    and path: what `groups validate` shows and what stops `importgroups`. When
    the schema refuses the document, the steps it can still read are checked
    against the registry too, so one pass shows everything. Returns the group
    (None when the schema refused it) and the problems.
    """
    try:
        group, lines = load_group_yaml_with_lines(text, source=source)
    except GroupSpecError as error:
        issues = error.issues + _salvaged_issues(text, source, error.issues)
        return None, sorted(issues, key=lambda issue: issue.line or 0)
    problems = PlanResolver().problems(group)
    return group, problems_as_issues(group, problems, source, lines)


def text_issues(text: str, source: str = "<string>") -> list[SpecIssue]:
    """Return every problem of a group document that needs no run params to see."""
    return check_group_text(text, source)[1]


def group_issues(group: PipelineGroup, source: str = "<string>") -> list[SpecIssue]:
    """Return every problem of a group built in Python, as for a document.

    A Python group can hold any values, so its document is validated first;
    the planner's checks follow when the document is sound.
    """
    try:
        validate_document(group.to_document(), source=source)
    except GroupSpecError as error:
        return error.issues
    return problems_as_issues(group, PlanResolver().problems(group), source)


def _salvaged_issues(
    text: str, source: str, reported: list[SpecIssue]
) -> list[SpecIssue]:
    try:
        document, lines = parse_group_yaml(text, source=source)
    except GroupSpecError:
        return []
    group, positions = salvage_group(document)
    problems = [
        problem
        for problem in PlanResolver().problems(group)
        if isinstance(problem, _SALVAGED_PROBLEMS)
    ]
    seen = {issue.path for issue in reported}
    issues = problems_as_issues(group, problems, source, lines, positions)
    return [issue for issue in issues if issue.path not in seen]
