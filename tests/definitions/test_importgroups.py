"""`manage.py importgroups`: one line per file, versions, prune and dry run."""

from __future__ import annotations

import re
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import QuerySet

from pipeline_groups import PipelineGroup, register_group
from pipeline_groups.models import GroupDefinition, GroupSource, GroupVersion
from pipeline_groups.registry import unregister_group
from tests.definitions.documents import VALID_YAML

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("pipelines", "no_mirrored_groups"),
]

OTHER_YAML = VALID_YAML.replace("name: demo.weekly", "name: demo.other")


def _file_groups() -> QuerySet[GroupDefinition]:
    return GroupDefinition.objects.filter(source=GroupSource.FILE)


def _file_versions() -> QuerySet[GroupVersion]:
    return GroupVersion.objects.filter(group__source=GroupSource.FILE)


def _import(*args: str) -> str:
    out = StringIO()
    call_command("importgroups", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two valid group files in a folder, one of them nested."""
    (tmp_path / "nested").mkdir()
    (tmp_path / "weekly.yaml").write_text(VALID_YAML)
    (tmp_path / "nested" / "other.yml").write_text(OTHER_YAML)
    (tmp_path / "notes.txt").write_text("not a group")
    return tmp_path


class TestImportGroups:
    def test_new_files_are_created_one_line_each(self, folder: Path) -> None:
        output = _import(str(folder))

        assert "demo.other v1  created" in output
        assert "demo.weekly v1  created" in output
        assert output.rstrip().endswith(
            "2 files: 2 created, 0 updated, 0 unchanged, 0 failed"
        )

    def test_running_twice_changes_nothing(self, folder: Path) -> None:
        _import(str(folder))

        output = _import(str(folder))

        assert "2 files: 0 created, 0 updated, 2 unchanged, 0 failed" in output
        assert _file_versions().count() == 2

    def test_a_changed_file_becomes_the_next_version(self, folder: Path) -> None:
        _import(str(folder))
        (folder / "weekly.yaml").write_text(
            VALID_YAML.replace("max_concurrency: 2", "max_concurrency: 3")
        )

        output = _import(str(folder))

        assert "demo.weekly v2  updated" in output
        assert GroupDefinition.objects.get(name="demo.weekly").version == 2

    def test_only_the_version_changed_is_unchanged(self, folder: Path) -> None:
        _import(str(folder))
        (folder / "weekly.yaml").write_text(
            VALID_YAML.replace("version: 1", "version: 5")
        )

        output = _import(str(folder))

        assert "demo.weekly v1  unchanged" in output

    def test_a_file_with_an_error_imports_nothing_and_fails(self, folder: Path) -> None:
        (folder / "weekly.yaml").write_text(
            VALID_YAML.replace("depends_on:", "depend_on:")
        )
        out = StringIO()

        with pytest.raises(CommandError, match="1 of 2 files failed"):
            call_command("importgroups", str(folder), stdout=out)

        assert re.search(r"weekly\.yaml +failed", out.getvalue())
        assert "spec.pipelines[1].depend_on: unknown key 'depend_on'" in (
            out.getvalue()
        )
        assert list(_file_groups().values_list("name", flat=True)) == ["demo.other"]

    @pytest.mark.parametrize(
        ("old", "new", "problem"),
        [
            (
                "pipeline: t.ingest",
                "pipeline: t.ingset",
                "spec.pipelines[0].pipeline: pipeline 't.ingset' is not registered",
            ),
            (
                "      pipeline: t.ingest\n",
                "      pipeline: t.ingest\n      depends_on: [normalize]\n",
                "spec.pipelines[0].depends_on: dependency cycle ingest -> "
                "normalize -> ingest",
            ),
            (
                "source_type: api",
                "source_typ: api",
                "step params not accepted by the pipeline: source_typ",
            ),
        ],
        ids=["unregistered pipeline", "cycle", "unknown step param"],
    )
    def test_a_file_that_would_not_plan_imports_nothing(
        self, folder: Path, old: str, new: str, problem: str
    ) -> None:
        (folder / "weekly.yaml").write_text(VALID_YAML.replace(old, new))
        out = StringIO()

        with pytest.raises(CommandError, match="^1 of 2 files failed and was not"):
            call_command("importgroups", str(folder), stdout=out)

        assert problem in out.getvalue()
        assert not _file_groups().filter(name="demo.weekly").exists()

    def test_the_same_group_in_two_files_fails_the_second(self, folder: Path) -> None:
        (folder / "z_copy.yaml").write_text(VALID_YAML)

        with pytest.raises(CommandError):
            _import(str(folder))

        assert _file_groups().count() == 2

    def test_dry_run_writes_nothing(self, folder: Path) -> None:
        output = _import(str(folder), "--dry-run")

        assert output.startswith("Would import")
        assert "demo.weekly v1  created" in output
        assert GroupDefinition.objects.count() == 0

    def test_a_missing_path_is_a_one_line_error(self, tmp_path: Path) -> None:
        with pytest.raises(CommandError, match="is neither a file nor a folder"):
            _import(str(tmp_path / "missing"))


class TestPythonGroups:
    @pytest.fixture
    def python_group(self) -> Iterator[PipelineGroup]:
        group = register_group(
            PipelineGroup("test.py_import", domain="test").add("a", "t.anything")
        )
        yield group
        unregister_group(group.name)

    def test_python_groups_are_mirrored_with_the_files(
        self, folder: Path, python_group: PipelineGroup
    ) -> None:
        first = _import(str(folder))
        again = _import(str(folder))

        assert "Groups defined in Python:" in first
        assert re.search(r"  test\.py_import +v1  created", first)
        assert re.search(r"  test\.py_import +v1  unchanged", again)
        definition = GroupDefinition.objects.get(name="test.py_import")
        assert definition.source == GroupSource.PYTHON

    def test_dry_run_mirrors_nothing(
        self, folder: Path, python_group: PipelineGroup
    ) -> None:
        output = _import(str(folder), "--dry-run")

        assert re.search(r"  test\.py_import +v1  created", output)
        assert not GroupDefinition.objects.filter(name="test.py_import").exists()

    def test_a_python_group_with_a_problem_fails_the_command(
        self, folder: Path
    ) -> None:
        group = register_group(
            PipelineGroup("test.py_broken").add("a", "t.anything", depends_on=["a"])
        )
        out = StringIO()
        try:
            with pytest.raises(CommandError, match="1 group defined in Python failed"):
                call_command("importgroups", str(folder), stdout=out)
        finally:
            unregister_group(group.name)

        assert re.search(r"  test\.py_broken +failed", out.getvalue())
        assert "dependency cycle a -> a" in out.getvalue()
        assert not GroupDefinition.objects.filter(name="test.py_broken").exists()
        assert _file_groups().count() == 2


class TestPrune:
    def test_prune_deactivates_groups_whose_file_is_gone(self, folder: Path) -> None:
        _import(str(folder))
        (folder / "nested" / "other.yml").unlink()

        output = _import(str(folder), "--prune")

        assert "demo.other  deactivated" in output
        assert "1 file: 0 created, 0 updated, 1 unchanged, 0 failed; 1 group " in (
            output
        )
        assert GroupDefinition.objects.get(name="demo.other").is_active is False
        assert GroupDefinition.objects.get(name="demo.weekly").is_active is True

    def test_prune_leaves_groups_from_other_paths(self, folder: Path) -> None:
        _import(str(folder))
        (folder / "nested" / "other.yml").unlink()

        _import(str(folder / "nested"), "--prune")
        _import(str(folder / "weekly.yaml"), "--prune")

        assert GroupDefinition.objects.get(name="demo.weekly").is_active is True

    def test_without_prune_nothing_is_deactivated(self, folder: Path) -> None:
        _import(str(folder))
        (folder / "nested" / "other.yml").unlink()

        _import(str(folder))

        assert GroupDefinition.objects.get(name="demo.other").is_active is True

    def test_a_broken_file_keeps_its_group(self, folder: Path) -> None:
        _import(str(folder))
        (folder / "weekly.yaml").write_text("kind: [")

        with pytest.raises(CommandError):
            _import(str(folder), "--prune")

        assert GroupDefinition.objects.get(name="demo.weekly").is_active is True

    def test_a_file_that_now_defines_another_group_prunes_the_old(
        self, folder: Path
    ) -> None:
        _import(str(folder))
        (folder / "weekly.yaml").write_text(
            VALID_YAML.replace("name: demo.weekly", "name: demo.renamed")
        )

        _import(str(folder), "--prune")

        assert GroupDefinition.objects.get(name="demo.weekly").is_active is False
        assert GroupDefinition.objects.get(name="demo.renamed").is_active is True

    def test_a_returning_file_activates_its_group_again(self, folder: Path) -> None:
        _import(str(folder))
        (folder / "nested" / "other.yml").unlink()
        _import(str(folder), "--prune")
        (folder / "nested" / "other.yml").write_text(OTHER_YAML)

        output = _import(str(folder), "--prune")

        assert "demo.other v1  updated" in output
        assert GroupDefinition.objects.get(name="demo.other").is_active is True
