"""The fixture generator: the same bytes on every run, and the committed ones.

The sample data under fixtures/ is the generator's output, committed so the
demo needs no set-up step; these tests keep the two from drifting apart.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.domains.conftest import FIXTURES, ROOT

SCRIPT = ROOT / "scripts" / "generate_fixtures.py"
GENERATED = ("finra", "market_data", "reference")


def generate(target: Path, hash_seed: str) -> subprocess.CompletedProcess[str]:
    """Run the script as a person would, with a given string-hash seed."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(target)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": hash_seed},
        timeout=60,
    )


def tree(folder: Path) -> dict[str, bytes]:
    """Return every file under the generated folders, by path, with its bytes."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for top in GENERATED
        for path in sorted((folder / top).rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """Generate twice into fresh folders, under different hash seeds."""
    first = tmp_path_factory.mktemp("first")
    second = tmp_path_factory.mktemp("second")
    output = generate(first, "1").stdout
    generate(second, "2")
    return first, second, output


class TestGenerateFixtures:
    def test_two_runs_write_the_same_bytes(
        self, two_runs: tuple[Path, Path, str]
    ) -> None:
        first, second, _ = two_runs

        assert tree(first) == tree(second)

    def test_output_is_what_is_committed(
        self, two_runs: tuple[Path, Path, str]
    ) -> None:
        first, _, _ = two_runs

        generated, committed = tree(first), tree(FIXTURES)

        assert sorted(generated) == sorted(committed)
        changed = [name for name in generated if generated[name] != committed[name]]
        assert changed == []

    def test_writes_every_tier_week_symbol_and_calendar(
        self, two_runs: tuple[Path, Path, str]
    ) -> None:
        first, _, output = two_runs

        names = sorted(tree(first))

        assert len(names) == 25
        assert sum(name.startswith("finra/otc/") for name in names) == 15
        assert sum(name.startswith("market_data/prices/") for name in names) == 6
        assert "reference/exchanges.csv" in names
        assert output.startswith("Wrote 25 files, ")
        assert output.rstrip().endswith(f"under {first}")
