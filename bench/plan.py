"""Time loading, validating and planning random layered DAGs; print JSON.

Usage: `.venv/bin/python bench/plan.py [--repeat N] [--seed S]`. For 100, 1,000
and 10,000 steps a layered DAG is drawn (each step depends on up to three steps
of the layer before), written as a YAML document, then timed: `load` parses and
validates the text (`load_group_yaml`), `validate` runs every check that needs no
run params (`PlanResolver.validate`), `plan` resolves the plan with run params.
The best of N runs is reported, with the time per step and per step+edge so
linear growth is visible. No Django, no database.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline_groups.planner import PlanResolver  # noqa: E402
from pipeline_groups.registry import register_pipeline  # noqa: E402
from pipeline_groups.spec import PipelineGroup  # noqa: E402
from pipeline_groups.yaml_spec import (  # noqa: E402
    MAX_DOCUMENT_BYTES,
    dump_group_yaml,
    load_group_yaml,
)

SIZES = (100, 1_000, 10_000)


@register_pipeline("bench.step")
def _step(ctx: Any, week_ending: str, tier: str = "NMS_TIER_1", **params: Any) -> None:
    """Do nothing: only the planner is measured."""


def layered_dag(steps: int, rng: random.Random) -> PipelineGroup:
    """Draw a DAG of `steps` steps in layers of about sqrt(steps) steps each."""
    width = max(2, int(steps**0.5))
    group = PipelineGroup(
        name=f"bench.dag_{steps}",
        domain="bench",
        defaults={"week_ending": "{{ params.week_ending }}", "force": False},
    )
    previous: list[str] = []
    current: list[str] = []
    for index in range(steps):
        if len(current) == width:
            previous, current = current, []
        name = f"s{index}"
        picks = rng.sample(previous, k=min(len(previous), rng.randint(1, 3)))
        params = {"tier": "{{ params.tier }}"} if index % 10 == 0 else {}
        group.add(name, "bench.step", depends_on=sorted(picks), params=params)
        current.append(name)
    return group


def _best(repeat: int, action: Callable[[], Any]) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return min(timings)


def measure(steps: int, repeat: int, rng: random.Random) -> dict[str, Any]:
    """Time the three phases for one DAG size."""
    group = layered_dag(steps, rng)
    edges = sum(len(step.depends_on) for step in group.steps)
    text = dump_group_yaml(group)
    size = len(text.encode())
    params = {"week_ending": "2026-01-03", "tier": "NMS_TIER_1"}
    resolver = PlanResolver()

    # A document over the 1 MiB limit is refused by design; then only the
    # Python-built group is validated and planned.
    loadable = size <= MAX_DOCUMENT_BYTES
    load = _best(repeat, lambda: load_group_yaml(text)) if loadable else None
    validate = _best(repeat, lambda: resolver.validate(group))
    plan = _best(repeat, lambda: resolver.resolve(group, params))
    return {
        "steps": steps,
        "edges": edges,
        "yaml_bytes": size,
        "load_seconds": None if load is None else round(load, 5),
        "load_microseconds_per_step_and_edge": None
        if load is None
        else round(load / (steps + edges) * 1e6, 3),
        "load_note": "" if loadable else "document over 1 MiB: refused by design",
        "validate_seconds": round(validate, 5),
        "plan_seconds": round(plan, 5),
        "plan_microseconds_per_step_and_edge": round(plan / (steps + edges) * 1e6, 3),
    }


def main() -> None:
    """Run every size and print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    options = parser.parse_args()

    rng = random.Random(options.seed)
    results = [measure(steps, options.repeat, rng) for steps in SIZES]
    report = {
        "benchmark": "plan",
        "python": platform.python_version(),
        "repeat": options.repeat,
        "seed": options.seed,
        "results": results,
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
