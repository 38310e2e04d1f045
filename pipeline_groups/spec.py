"""Pipeline groups as plain Python values: the steps, the policy and the DSL.

A group written in YAML and the same group written with this DSL are equal
values. `to_document()` gives the whole YAML document as a dict and
`from_document()` reads one back, validated by the schema of `yaml_spec`. Nothing
here touches Django, so domain modules can build groups at import time.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pipeline_groups import templating

API_VERSION = "spine.io/v1"
KIND = "PipelineGroup"

Execution = Literal["sequential", "parallel"]
OnFailure = Literal["stop", "continue"]


@dataclass
class PipelineStep:
    """One step of a group: a registered pipeline, what it waits for, its params."""

    name: str
    pipeline: str
    depends_on: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def to_document(self) -> dict[str, Any]:
        """Return the step as it is written under `spec.pipelines`."""
        document: dict[str, Any] = {"name": self.name, "pipeline": self.pipeline}
        if self.depends_on:
            document["depends_on"] = list(self.depends_on)
        if self.params:
            document["params"] = copy.deepcopy(self.params)
        return document


@dataclass
class ExecutionPolicy:
    """How a group runs: one step at a time or in parallel, and what a failure does."""

    execution: Execution = "sequential"
    max_concurrency: int = 4
    on_failure: OnFailure = "stop"
    timeout_minutes: float | None = None

    def to_document(self) -> dict[str, Any]:
        """Return the policy as it is written under `spec.policy`."""
        document: dict[str, Any] = {
            "execution": self.execution,
            "max_concurrency": self.max_concurrency,
            "on_failure": self.on_failure,
        }
        if self.timeout_minutes is not None:
            document["timeout_minutes"] = self.timeout_minutes
        return document

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> ExecutionPolicy:
        """Read a policy written as in `spec.policy` (already validated)."""
        return cls(
            execution=document.get("execution", "sequential"),
            max_concurrency=document.get("max_concurrency", 4),
            on_failure=document.get("on_failure", "stop"),
            timeout_minutes=document.get("timeout_minutes"),
        )


@dataclass
class PipelineGroup:
    """A named, versioned set of pipeline steps with dependency edges.

    Build one fluently with `add`, declaratively with `from_steps`, or from a
    YAML document; all three give equal values for the same group.
    """

    name: str
    domain: str = ""
    version: int = 1
    description: str = ""
    tags: list[str] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)
    steps: list[PipelineStep] = field(default_factory=list)
    policy: ExecutionPolicy = field(default_factory=ExecutionPolicy)

    def add(
        self,
        name: str,
        pipeline: str,
        depends_on: Iterable[str] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> PipelineGroup:
        """Append a step and return the group, so calls can be chained.

        `depends_on` is a list of step names; a bare string is refused, since
        read as a list it would become one dependency per letter.
        """
        if isinstance(depends_on, str):
            raise TypeError(
                f"step {name!r}: depends_on takes a list of step names, "
                f"not the string {depends_on!r}; write [{depends_on!r}]"
            )
        self.steps.append(
            PipelineStep(
                name=name,
                pipeline=pipeline,
                depends_on=list(depends_on or []),
                params=dict(params or {}),
            )
        )
        return self

    @classmethod
    def from_steps(
        cls,
        name: str,
        steps: Iterable[PipelineStep],
        **attributes: Any,
    ) -> PipelineGroup:
        """Build a group from a list of steps; other fields by keyword."""
        return cls(name=name, steps=list(steps), **attributes)

    def step(self, name: str) -> PipelineStep:
        """Return the step of this name (KeyError when there is none)."""
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    @property
    def step_names(self) -> list[str]:
        """The step names in declaration order."""
        return [step.name for step in self.steps]

    def template_params(self) -> list[str]:
        """Return the run params the group's templates use, first use first.

        A form that starts a run asks for these.
        """
        values: list[Any] = [self.defaults, *(step.params for step in self.steps)]
        return templating.referenced_params(values)

    def to_document(self) -> dict[str, Any]:
        """Return the whole YAML document (apiVersion, kind, metadata, spec)."""
        spec: dict[str, Any] = {}
        if self.defaults:
            spec["defaults"] = copy.deepcopy(self.defaults)
        spec["pipelines"] = [step.to_document() for step in self.steps]
        spec["policy"] = self.policy.to_document()
        metadata: dict[str, Any] = {
            "name": self.name,
            "domain": self.domain,
            "version": self.version,
        }
        if self.description:
            metadata["description"] = self.description
        if self.tags:
            metadata["tags"] = list(self.tags)
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": metadata,
            "spec": spec,
        }

    @classmethod
    def from_document(
        cls, document: Mapping[str, Any], source: str = "<document>"
    ) -> PipelineGroup:
        """Validate a document and build the group it describes.

        Raises `GroupSpecError` listing every problem of the document.
        """
        from pipeline_groups.yaml_spec import validate_document

        return validate_document(document, source=source)

    def content_document(self) -> dict[str, Any]:
        """Return the document without `metadata.version`, the part that versions."""
        document = self.to_document()
        document["metadata"].pop("version", None)
        return document
