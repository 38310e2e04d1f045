"""Draw a group run's steps as an SVG graph, laid out by Graphviz.

The run page shows the plan's dependency graph with each step filled in the
colour of its status and labelled with a symbol and a word, so the picture
reads without colour too. Graphviz (`dot`, through the `graphviz` package)
places the nodes; nothing here computes coordinates. Drawing a 50-step graph
takes a few tens of milliseconds, cheap enough to do on every page view.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import graphviz

from pipeline_groups.models import StepStatus

logger = logging.getLogger(__name__)

# The status page's palette (pages.css): Okabe-Ito hues tuned to stay apart for
# colour-blind readers; each pairs a light fill with a strong border, and a
# symbol names the status.
STATUS_STYLE: dict[str, tuple[str, str, str]] = {
    StepStatus.PENDING: ("#f0f0f0", "#555555", "○"),
    StepStatus.QUEUED: ("#e3f2fb", "#3b8cc4", "◔"),
    StepStatus.RUNNING: ("#d6e8f5", "#004a87", "◐"),
    StepStatus.COMPLETED: ("#dbf1e4", "#067542", "✓"),
    StepStatus.FAILED: ("#fbe3d6", "#b34700", "✗"),
    StepStatus.SKIPPED: ("#f7f3dc", "#968842", "↷"),
    StepStatus.CANCELLED: ("#f6e3ee", "#ad558c", "⊘"),
}
NOT_RUN_STYLE = ("#ffffff", "#6b6b6b", "·")

_SVG_HEADER = re.compile(r"^.*?(?=<svg)", re.DOTALL)
_SVG_OPEN = re.compile(r"<svg ")


@dataclass(frozen=True)
class DagNode:
    """One step as the picture needs it."""

    step_name: str
    pipeline_name: str
    status: str = ""
    depends_on: list[str] = field(default_factory=list)


def status_style(status: str) -> tuple[str, str, str]:
    """Return the fill colour, border colour and symbol of a status."""
    return STATUS_STYLE.get(status, NOT_RUN_STYLE)


def build_graph(nodes: Iterable[DagNode]) -> graphviz.Digraph:
    """Describe the steps and their dependency edges for Graphviz to lay out."""
    graph = graphviz.Digraph(
        "run",
        graph_attr={
            "rankdir": "LR",
            "bgcolor": "transparent",
            "nodesep": "0.25",
            "ranksep": "0.45",
        },
        node_attr={
            "shape": "box",
            "style": "rounded,filled",
            "fontname": "DejaVu Sans",
            "fontsize": "11",
            "penwidth": "1.6",
            "margin": "0.15,0.06",
        },
        edge_attr={"color": "#555555", "arrowsize": "0.7"},
    )

    # Graphviz reads "a:b" in a node name as a port, so nodes get plain ids.
    nodes = list(nodes)
    ids = {node.step_name: f"n{index}" for index, node in enumerate(nodes)}
    for node in nodes:
        fill, border, symbol = status_style(node.status)
        word = StepStatus(node.status).label if node.status in STATUS_STYLE else ""
        label = f"{symbol} {node.step_name}\n{node.pipeline_name}"
        if word:
            label += f"\n{word}"
        graph.node(
            ids[node.step_name],
            label=label,
            fillcolor=fill,
            color=border,
            tooltip=f"{node.step_name}: {word or 'not run'}",
            id=f"dag-step-{node.step_name}",
            **{"class": f"dag-step status-{node.status or 'none'}"},
        )

    for node in nodes:
        for upstream in node.depends_on:
            if upstream in ids:
                graph.edge(ids[upstream], ids[node.step_name])
    return graph


def render_svg(nodes: Iterable[DagNode]) -> str | None:
    """Return the graph as inline SVG markup, or None when Graphviz is missing.

    The XML prologue is dropped so the markup can sit inside HTML; the natural
    size stays, and the page's CSS lets a wide graph shrink to fit.
    """
    graph = build_graph(nodes)
    try:
        svg = graph.pipe(format="svg", encoding="utf-8")
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError) as error:
        logger.warning("Cannot draw the run graph with Graphviz: %s", error)
        return None

    svg = _SVG_HEADER.sub("", svg, count=1)
    return _SVG_OPEN.sub('<svg class="dag" role="img" ', svg, count=1)
