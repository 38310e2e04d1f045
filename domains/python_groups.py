"""A group defined in Python, where a loop writes what YAML would spell out.

`finra.all_tiers_weekly` ingests and normalizes one week for every FINRA OTC
tier. The tiers are a list here, so adding a tier adds its two steps; the
week comes from the run (`--param week_ending=2025-12-20`). Registering the group
makes the app mirror it into the `pipeline_groups` table (source "python").
"""

from __future__ import annotations

from pipeline_groups import ExecutionPolicy, PipelineGroup, register_group

FINRA_TIERS = ("NMS_TIER_1", "NMS_TIER_2", "OTCE")


def all_tiers_weekly(tiers: tuple[str, ...] = FINRA_TIERS) -> PipelineGroup:
    """Build the group: per tier, ingest then normalize; tiers run side by side."""
    group = PipelineGroup(
        name="finra.all_tiers_weekly",
        domain="finra.otc_transparency",
        description="Ingest and normalize one week of FINRA OTC data for every tier.",
        tags=["finra", "weekly", "python"],
        defaults={"week_ending": "{{ params.week_ending }}"},
        policy=ExecutionPolicy(
            execution="parallel", max_concurrency=3, on_failure="continue"
        ),
    )
    for tier in tiers:
        slug = tier.lower()
        group.add(
            f"ingest_{slug}",
            "finra.otc_transparency.ingest_week",
            params={"tier": tier},
        ).add(
            f"normalize_{slug}",
            "finra.otc_transparency.normalize_week",
            depends_on=[f"ingest_{slug}"],
            params={"tier": tier},
        )
    return group


ALL_TIERS_WEEKLY = register_group(all_tiers_weekly())
