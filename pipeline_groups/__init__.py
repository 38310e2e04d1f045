"""Spine pipeline groups: named groups of pipelines with dependencies, run as one.

The package root exports what a domain module needs to declare its work: the
pipeline decorator and the group DSL. Nothing here touches Django's models, so a
domain module can be imported before the app registry is ready.
"""

from pipeline_groups.context import ExecutionContext
from pipeline_groups.planner import ExecutionPlan, PlannedStep, PlanResolver
from pipeline_groups.registry import (
    get_group,
    get_pipeline,
    list_groups,
    list_pipelines,
    register_group,
    register_pipeline,
)
from pipeline_groups.spec import ExecutionPolicy, PipelineGroup, PipelineStep

__all__ = [
    "ExecutionContext",
    "ExecutionPlan",
    "ExecutionPolicy",
    "PipelineGroup",
    "PipelineStep",
    "PlanResolver",
    "PlannedStep",
    "get_group",
    "get_pipeline",
    "list_groups",
    "list_pipelines",
    "register_group",
    "register_pipeline",
]
