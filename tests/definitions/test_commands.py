"""`manage.py groups list|show|validate|export|schema` and the plan printout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from pipeline_groups import PipelineGroup, PlanResolver, storage
from pipeline_groups.cli.definitions import format_plan
from pipeline_groups.models import GroupSource
from pipeline_groups.yaml_spec import load_group_yaml
from tests.definitions.documents import VALID_YAML

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("pipelines", "no_mirrored_groups"),
]


def _groups(*args: str) -> str:
    out = StringIO()
    call_command("groups", *args, stdout=out)
    return out.getvalue()


def _validate_failing(folder: Path, match: str | None = None) -> str:
    """Run `groups validate` on a folder that has problems; return what it printed."""
    out = StringIO()
    with pytest.raises(CommandError, match=match):
        call_command("groups", "validate", str(folder), stdout=out)
    return out.getvalue()


@pytest.fixture
def stored() -> PipelineGroup:
    group = load_group_yaml(VALID_YAML)
    storage.save_group(group, source=GroupSource.API)
    return group


class TestList:
    def test_lists_groups_with_version_and_domain(self, stored: PipelineGroup) -> None:
        storage.save_group(
            PipelineGroup("other.one", domain="other").add("a", "t.anything"),
            source=GroupSource.API,
        )
        storage.deactivate_group("other.one")

        output = _groups("list")

        assert output.splitlines()[0] == "2 groups"
        assert "demo.weekly  v1     2 steps  demo  (api)" in output
        assert "other.one" in output and "inactive" in output

    def test_domain_filter(self, stored: PipelineGroup) -> None:
        storage.save_group(
            PipelineGroup("other.one", domain="other").add("a", "t.anything"),
            source=GroupSource.API,
        )

        lines = _groups("list", "--domain", "demo").splitlines()

        assert lines[0] == "1 group"
        assert [line.split()[0] for line in lines[1:]] == ["demo.weekly"]
        assert "No groups in domain nope" in _groups("list", "--domain", "nope")


class TestShow:
    def test_shows_steps_in_plan_order_with_params_and_policy(
        self, stored: PipelineGroup
    ) -> None:
        lines = _groups("show", "demo.weekly").splitlines()

        assert lines[0] == "demo.weekly v1"
        assert (
            "  policy: parallel, at most 2 at once, on failure continue, "
            "timeout 1.5 min"
        ) in lines
        start = lines.index("  steps, in plan order:")
        assert lines[start + 1 :] == [
            "  1. ingest  (t.ingest)",
            "       after: nothing",
            '       source_type = "api"',
            "  2. normalize  (t.normalize)",
            "       after: ingest",
        ]

    def test_unknown_group_is_a_one_line_error(self) -> None:
        with pytest.raises(CommandError, match="^Group 'nope' does not exist$"):
            _groups("show", "nope")


class TestExport:
    def test_export_prints_yaml_that_reads_back_equal(
        self, stored: PipelineGroup
    ) -> None:
        output = _groups("export", "demo.weekly")

        assert load_group_yaml(output) == stored

    def test_export_writes_the_server_version(self, stored: PipelineGroup) -> None:
        storage.save_group(
            load_group_yaml(VALID_YAML.replace("A small", "A smaller")),
            source=GroupSource.API,
        )

        assert "version: 2" in _groups("export", "demo.weekly")
        assert "A small weekly" in _groups("export", "demo.weekly", "--version", "1")

    def test_unknown_version_names_the_stored_ones(self, stored: PipelineGroup) -> None:
        with pytest.raises(CommandError, match="no version 3; stored versions: 1"):
            _groups("export", "demo.weekly", "--version", "3")


class TestValidate:
    def test_valid_file_is_ok(self, tmp_path: Path) -> None:
        (tmp_path / "demo.yaml").write_text(VALID_YAML)

        output = _groups("validate", str(tmp_path))

        assert "demo.yaml  ok" in output
        assert "1 files valid" in output

    def test_every_problem_is_listed_with_line(self, tmp_path: Path) -> None:
        text = (
            VALID_YAML.replace("pipeline: t.ingest", "pipeline: t.ingset")
            .replace("source_type: api", "source_typ: api")
            .replace("depends_on: [ingest]", "depends_on: [normalize]")
        )
        (tmp_path / "bad.yaml").write_text(text)

        output = _validate_failing(tmp_path, match="^1 of 1 files have problems$")

        lines = [line.strip() for line in output.splitlines()[1:]]
        source = storage.display_path(tmp_path / "bad.yaml")
        assert lines == [
            f"{source}:15: spec.pipelines[0].pipeline: pipeline 't.ingset' is not "
            "registered; did you mean 't.ingest'?",
            f"{source}:20: spec.pipelines[1].depends_on: dependency cycle "
            "normalize -> normalize",
        ]

    def test_schema_and_registry_problems_are_listed_together(
        self, tmp_path: Path
    ) -> None:
        text = (
            VALID_YAML.replace("pipeline: t.ingest", "pipeline: t.ingset")
            .replace("source_type: api", "source_typ: api")
            .replace("execution: parallel", "execution: paralel")
        )
        (tmp_path / "bad.yaml").write_text(text)

        output = _validate_failing(tmp_path)

        lines = [line.strip() for line in output.splitlines()[1:]]
        source = storage.display_path(tmp_path / "bad.yaml")
        assert lines == [
            f"{source}:15: spec.pipelines[0].pipeline: pipeline 't.ingset' is not "
            "registered; did you mean 't.ingest'?",
            f"{source}:22: spec.policy.execution: Input should be 'sequential' or "
            "'parallel', got str 'paralel'",
        ]

    def test_a_cycle_shows_beside_a_schema_problem(self, tmp_path: Path) -> None:
        text = VALID_YAML.replace(
            "      pipeline: t.ingest\n",
            "      pipeline: t.ingest\n      depends_on: [normalize]\n",
        ).replace("on_failure: continue", "on_failure: retry")
        (tmp_path / "bad.yaml").write_text(text)

        output = _validate_failing(tmp_path)

        assert (
            ":16: spec.pipelines[0].depends_on: dependency cycle ingest -> "
            "normalize -> ingest"
        ) in output
        assert ":25: spec.policy.on_failure: Input should be" in output

    def test_a_file_too_big_is_refused_unread(self, tmp_path: Path) -> None:
        with (tmp_path / "huge.yaml").open("wb") as handle:
            handle.truncate(1024**3)

        output = _validate_failing(tmp_path)

        assert "file is over 1048576 bytes (1 MiB)" in output

    def test_step_param_the_pipeline_does_not_take(self, tmp_path: Path) -> None:
        text = VALID_YAML.replace("source_type: api", "source_typ: api")
        (tmp_path / "bad.yaml").write_text(text)

        output = _validate_failing(tmp_path)

        assert (
            ":17: spec.pipelines[0].params.source_typ: pipeline 't.ingest': step "
            "params not accepted by the pipeline: source_typ"
        ) in output


class TestSchema:
    def test_schema_is_json(self) -> None:
        schema = json.loads(_groups("schema"))

        assert schema["title"] == "Spine PipelineGroup"


class TestFormatPlan:
    def test_plan_shows_order_params_and_their_origin(self) -> None:
        group = load_group_yaml(VALID_YAML)
        plan = PlanResolver().resolve(
            group, {"tier": "NMS_TIER_1", "week_ending": "2026-01-03"}, batch_id="b1"
        )

        lines = format_plan(plan)

        assert lines[0] == (
            "Plan for demo.weekly v1: 2 steps, parallel, at most 2 at once, "
            "on failure continue, timeout 1.5 min"
        )
        assert lines[3:8] == [
            "  1. ingest  (t.ingest)",
            "       after: nothing",
            '       tier = "NMS_TIER_1"  [run]',
            '       week_ending = "2026-01-03"  [run]',
            '       source_type = "api"  [step]',
        ]


class TestExitCodes:
    def test_bad_input_exits_non_zero_with_one_line_and_no_traceback(
        self, tmp_path: Path
    ) -> None:
        (tmp_path / "bad.yaml").write_text("kind: [")
        env = {
            **os.environ,
            "DJANGO_SECRET_KEY": "test-only",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        }

        result = subprocess.run(
            [sys.executable, "manage.py", "groups", "validate", str(tmp_path)],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert result.returncode == 1
        assert result.stderr.strip() == "CommandError: 1 of 1 files have problems"
        assert "Traceback" not in result.stdout + result.stderr
