"""The status colours: one palette for badges, bars and the DAG, safe without colour.

Every status carries its own symbol and word, so colour is never the only cue;
the colours themselves must still stay apart for readers with the common
colour-vision deficiencies. Each border colour is passed through the
Machado-Oliveira-Fernandes (2009) simulation of full protanopia, deuteranopia
and tritanopia, and every pair must stay at least `MIN_DELTA_E` apart in CIELAB
(side-by-side colours about 2 apart are just noticeable; 15 reads at a glance).
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import pytest

from pipeline_groups.dag import STATUS_STYLE
from pipeline_groups.models import RunStatus, StepStatus
from pipeline_groups.views import Badge

CSS = (
    Path(__file__).resolve().parents[2]
    / "pipeline_groups"
    / "static"
    / "pipeline_groups"
    / "pages.css"
)
MIN_DELTA_E = 15.0
Matrix = tuple[tuple[float, float, float], ...]
VISION: dict[str, Matrix] = {
    "typical": ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
    "protanopia": (
        (0.152286, 1.052583, -0.204868),
        (0.114503, 0.786281, 0.099216),
        (-0.003882, -0.048116, 1.051998),
    ),
    "deuteranopia": (
        (0.367322, 0.860646, -0.227968),
        (0.280085, 0.672501, 0.047413),
        (-0.011820, 0.042940, 0.968881),
    ),
    "tritanopia": (
        (1.255528, -0.076749, -0.178779),
        (-0.078411, 0.930809, 0.147602),
        (0.004733, 0.691367, 0.303900),
    ),
}


def css_palette() -> dict[str, tuple[str, str]]:
    """Return each status's (fill, border) as pages.css declares them."""
    text = CSS.read_text()
    palette = {}
    for status in StepStatus.values:
        border = re.search(rf"--{status}:\s*(#[0-9a-f]{{6}})", text)
        fill = re.search(rf"--{status}-bg:\s*(#[0-9a-f]{{6}})", text)
        assert border and fill, f"pages.css declares no colours for {status}"
        palette[status] = (fill.group(1), border.group(1))
    return palette


def linear_rgb(colour: str) -> list[float]:
    """Return an sRGB hex colour as linear-light RGB in 0..1."""
    channels = [int(colour[index : index + 2], 16) / 255 for index in (1, 3, 5)]
    return [
        value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4
        for value in channels
    ]


def simulate(colour: str, matrix: Matrix) -> list[float]:
    """Return the linear RGB a reader with that vision sees."""
    rgb = linear_rgb(colour)
    seen = [sum(m * c for m, c in zip(row, rgb, strict=True)) for row in matrix]
    return [min(max(value, 0.0), 1.0) for value in seen]


def cielab(rgb: list[float]) -> tuple[float, float, float]:
    """Convert linear RGB (D65) to CIELAB."""
    r, g, b = rgb
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return (116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z)))


def contrast_with_white(colour: str) -> float:
    """Return the WCAG contrast ratio of a colour against white."""
    r, g, b = linear_rgb(colour)
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return 1.05 / (luminance + 0.05)


class TestStatusPalette:
    def test_every_status_has_its_own_symbol_and_word(self):
        statuses = sorted({*StepStatus.values, *RunStatus.values})

        badges = [Badge.of(status) for status in statuses]

        assert all(badge.label and badge.symbol.strip() for badge in badges)
        assert len({badge.symbol for badge in badges}) == len(statuses)
        assert len({badge.label for badge in badges}) == len(statuses)
        assert all(badge.label in badge.html for badge in badges)

    def test_badges_and_graph_share_one_palette(self):
        palette = css_palette()

        graph = {status: style[:2] for status, style in STATUS_STYLE.items()}

        assert graph == palette

    @pytest.mark.parametrize("vision", sorted(VISION))
    def test_colours_stay_apart_for_colour_blind_readers(self, vision):
        borders = {status: pair[1] for status, pair in css_palette().items()}
        seen = {
            status: cielab(simulate(colour, VISION[vision]))
            for status, colour in borders.items()
        }

        closest = min(
            (math.dist(seen[a], seen[b]), a, b)
            for a, b in itertools.combinations(sorted(seen), 2)
        )

        assert closest[0] >= MIN_DELTA_E, closest

    def test_borders_and_bars_stand_out_against_white(self):
        borders = {status: pair[1] for status, pair in css_palette().items()}

        weak = {
            status: round(contrast_with_white(colour), 2)
            for status, colour in borders.items()
            if contrast_with_white(colour) < 3.0
        }

        assert weak == {}
