"""Storage: versions belong to the server; yaml mode makes the files the truth."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings

from pipeline_groups import PipelineGroup, register_group, storage
from pipeline_groups.exceptions import (
    GroupNotFoundError,
    GroupSpecError,
    GroupStorageReadOnlyError,
)
from pipeline_groups.models import GroupDefinition, GroupSource, GroupVersion
from pipeline_groups.registry import unregister_group
from tests.definitions.documents import VALID_YAML

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("pipelines", "no_mirrored_groups"),
]


def _group(**changes: object) -> PipelineGroup:
    group = PipelineGroup("demo.stored", domain="demo").add("a", "t.anything")
    for name, value in changes.items():
        setattr(group, name, value)
    return group


@pytest.fixture
def yaml_mode(tmp_path: Path) -> Iterator[Path]:
    """Switch to yaml storage over a temporary groups folder."""
    folder = tmp_path / "groups"
    folder.mkdir()
    storage.reset_sync()
    with override_settings(SPINE_GROUP_STORAGE="yaml", SPINE_GROUPS_PATH=folder):
        yield folder
    storage.reset_sync()


def _index_sql(name: str) -> str:
    """Return the statement the database keeps for an index."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name]
            )
        else:
            cursor.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = %s",
                [name],
            )
        row = cursor.fetchone()
    return row[0] if row else ""


class TestTables:
    def test_tables_are_named_as_in_the_rfc(self) -> None:
        tables = connection.introspection.table_names()

        assert {"pipeline_groups", "pipeline_group_versions"} <= set(tables)

    def test_domain_and_active_indexes_are_those_of_the_rfc(self) -> None:
        with connection.cursor() as cursor:
            found = connection.introspection.get_constraints(cursor, "pipeline_groups")

        assert found["idx_pipeline_groups_domain"]["columns"] == ["domain"]
        assert found["idx_pipeline_groups_active"]["columns"] == ["is_active"]
        partial = _index_sql("idx_pipeline_groups_active")
        assert "WHERE" in partial.upper() and "is_active" in partial

    def test_a_version_is_stored_once_per_group(self) -> None:
        with connection.cursor() as cursor:
            found = connection.introspection.get_constraints(
                cursor, "pipeline_group_versions"
            )

        unique = [c["columns"] for c in found.values() if c["unique"]]
        assert ["group_id", "version"] in unique


class TestSaveGroup:
    def test_new_group_is_version_one_with_its_history(self) -> None:
        definition, status = storage.save_group(_group(), source=GroupSource.API)

        assert status == "created"
        assert definition.version == 1
        assert definition.spec["metadata"]["version"] == 1
        assert list(definition.versions.values_list("version", flat=True)) == [1]

    def test_saving_the_same_group_changes_nothing(self) -> None:
        storage.save_group(_group(), source=GroupSource.API)

        definition, status = storage.save_group(_group(), source=GroupSource.API)

        assert status == "unchanged"
        assert definition.version == 1
        assert GroupVersion.objects.count() == 1

    def test_a_changed_spec_is_the_next_version(self) -> None:
        storage.save_group(_group(), source=GroupSource.API)
        changed = _group().add("b", "t.anything", depends_on=["a"])

        definition, status = storage.save_group(changed, source=GroupSource.API)

        assert status == "updated"
        assert definition.version == 2
        assert definition.spec["metadata"]["version"] == 2
        assert storage.load_group("demo.stored") == _with_version(changed, 2)
        assert GroupVersion.objects.get(version=1).spec["spec"]["pipelines"] == [
            {"name": "a", "pipeline": "t.anything"}
        ]

    def test_a_description_change_is_a_version_too(self) -> None:
        storage.save_group(_group(), source=GroupSource.API)

        definition, status = storage.save_group(
            _group(description="now described"), source=GroupSource.API
        )

        assert (status, definition.version) == ("updated", 2)

    def test_metadata_version_of_the_input_is_ignored(self) -> None:
        definition, _ = storage.save_group(_group(version=9), source=GroupSource.API)
        again, status = storage.save_group(_group(version=4), source=GroupSource.API)

        assert definition.version == 1
        assert (status, again.version) == ("unchanged", 1)

    def test_inactive_group_is_readable_and_saving_activates_it(self) -> None:
        storage.save_group(_group(), source=GroupSource.API)

        storage.deactivate_group("demo.stored")

        assert GroupDefinition.objects.get(name="demo.stored").is_active is False
        assert storage.load_group("demo.stored").name == "demo.stored"
        definition, status = storage.save_group(_group(), source=GroupSource.API)
        assert (status, definition.is_active, definition.version) == (
            "updated",
            True,
            1,
        )

    def test_unknown_group_suggests_the_closest(self) -> None:
        storage.save_group(_group(), source=GroupSource.API)

        with pytest.raises(GroupNotFoundError, match="did you mean 'demo.stored'"):
            storage.load_group("demo.stord")

    def test_an_invalid_group_stores_nothing(self) -> None:
        group = PipelineGroup("runs").add("a", "t.anything", depends_on=["b"])

        with pytest.raises(GroupSpecError) as caught:
            storage.save_group(group, source=GroupSource.PYTHON)

        assert [issue.path for issue in caught.value.issues] == [
            "metadata.name",
            "spec.pipelines[0].depends_on[0]",
        ]
        assert not GroupDefinition.objects.exists()

    def test_activate_and_deactivate_unknown_group_raise(self) -> None:
        with pytest.raises(GroupNotFoundError):
            storage.deactivate_group("nope")


def _with_version(group: PipelineGroup, version: int) -> PipelineGroup:
    group.version = version
    return group


class TestWritable:
    def test_database_mode_is_writable(self) -> None:
        storage.ensure_writable("demo.stored")

    def test_yaml_mode_refuses_writes_with_the_fix(self, yaml_mode: Path) -> None:
        with pytest.raises(GroupStorageReadOnlyError) as caught:
            storage.ensure_writable("demo.stored")

        assert isinstance(caught.value, PermissionError)
        assert "SPINE_GROUP_STORAGE is 'yaml'" in str(caught.value)
        assert "run `manage.py importgroups`" in str(caught.value)


class TestPythonGroups:
    def test_registered_groups_are_mirrored_as_python(self) -> None:
        group = register_group(PipelineGroup("test.mirrored").add("a", "t.anything"))
        try:
            results = dict(storage.sync_python_groups())
            again = dict(storage.sync_python_groups())
        finally:
            unregister_group(group.name)

        definition = GroupDefinition.objects.get(name="test.mirrored")
        assert results["test.mirrored"] == "created"
        assert again["test.mirrored"] == "unchanged"
        assert definition.source == GroupSource.PYTHON

    def test_a_python_group_that_would_not_plan_is_skipped_and_logged(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        group = register_group(PipelineGroup("test.unplannable").add("a", "t.ingset"))
        try:
            results = dict(storage.sync_python_groups())
        finally:
            unregister_group(group.name)

        assert "test.unplannable" not in results
        assert not GroupDefinition.objects.filter(name="test.unplannable").exists()
        assert "pipeline 't.ingset' is not registered" in caplog.text


class TestYamlMode:
    def test_first_read_mirrors_the_folder(self, yaml_mode: Path) -> None:
        (yaml_mode / "demo.yaml").write_text(VALID_YAML)

        group = storage.load_group("demo.weekly")

        assert group.step_names == ["ingest", "normalize"]
        definition = GroupDefinition.objects.get(name="demo.weekly")
        assert definition.source == GroupSource.FILE

    def test_a_removed_file_deactivates_its_group_on_sync(
        self, yaml_mode: Path
    ) -> None:
        path = yaml_mode / "demo.yaml"
        path.write_text(VALID_YAML)
        storage.sync_group_sources()

        path.unlink()
        storage.sync_group_sources()

        assert GroupDefinition.objects.get(name="demo.weekly").is_active is False

    def test_file_groups_from_outside_the_folder_are_deactivated(
        self, yaml_mode: Path, tmp_path: Path
    ) -> None:
        elsewhere = tmp_path / "elsewhere.yaml"
        elsewhere.write_text(VALID_YAML)
        storage.import_group_files([elsewhere])
        (yaml_mode / "other.yaml").write_text(
            VALID_YAML.replace("name: demo.weekly", "name: demo.other")
        )

        storage.sync_group_sources()

        assert GroupDefinition.objects.get(name="demo.weekly").is_active is False
        assert GroupDefinition.objects.get(name="demo.other").is_active is True

    def test_a_broken_file_is_skipped_and_logged(
        self, yaml_mode: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        (yaml_mode / "broken.yaml").write_text("kind: [")

        report = storage.sync_group_sources()

        assert report.files is not None
        assert report.files.counts["failed"] == 1
        assert "Group file" in caplog.text
