"""Reading group documents: every rule refused with its path, line and reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pipeline_groups import ExecutionPolicy, PipelineGroup
from pipeline_groups.exceptions import GroupSpecError
from pipeline_groups.yaml_spec import (
    MAX_DOCUMENT_BYTES,
    dump_group_yaml,
    group_document_schema,
    load_group_yaml,
    read_group_file,
)
from tests.definitions.documents import VALID_YAML, as_yaml, valid_document

Change = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Change:
    """Return a change that sets a dotted path (`spec.pipelines.1.name`)."""

    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = document
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return change


def _delete(path: str) -> Change:
    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = document
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        del target[last]

    return change


def _rename_key(path: str, old: str, new: str) -> Change:
    def change(document: dict[str, Any]) -> None:
        target: Any = document
        for part in path.split("."):
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[new] = target.pop(old)

    return change


INVALID_DOCUMENTS = [
    (
        "api version",
        _set("apiVersion", "spine.io/v2"),
        "apiVersion",
        "Input should be 'spine.io/v1', got str 'spine.io/v2'",
    ),
    (
        "kind",
        _set("kind", "Pipeline"),
        "kind",
        "Input should be 'PipelineGroup', got str 'Pipeline'",
    ),
    (
        "group name required",
        _delete("metadata.name"),
        "metadata.name",
        "required key 'name' is missing",
    ),
    (
        "group name is a dotted identifier",
        _set("metadata.name", "weekly refresh"),
        "metadata.name",
        "expected a dotted identifier such as finra.weekly_refresh, "
        "got 'weekly refresh'",
    ),
    (
        "group name runs is reserved",
        _set("metadata.name", "runs"),
        "metadata.name",
        "the name 'runs' is reserved",
    ),
    (
        "domain is a dotted identifier",
        _set("metadata.domain", "fin ra"),
        "metadata.domain",
        "expected empty or a dotted identifier, got 'fin ra'",
    ),
    (
        "version is at least 1",
        _set("metadata.version", 0),
        "metadata.version",
        "Input should be greater than or equal to 1, got int 0",
    ),
    (
        "tags are a list",
        _set("metadata.tags", "demo"),
        "metadata.tags",
        "Input should be a valid list, got str 'demo'",
    ),
    (
        "unknown metadata key",
        _set("metadata.owner", "me"),
        "metadata.owner",
        "unknown key 'owner'; expected one of: name, domain, version, "
        "description, tags",
    ),
    (
        "tags are text",
        _set("metadata.tags", ["demo", 7]),
        "metadata.tags[1]",
        "Input should be a valid string, got int 7",
    ),
    (
        "spec required",
        _delete("spec"),
        "spec",
        "required key 'spec' is missing",
    ),
    (
        "unknown spec key",
        _set("spec.steps", []),
        "spec.steps",
        "unknown key 'steps'; expected one of: defaults, pipelines, policy",
    ),
    (
        "unknown policy key",
        _set("spec.policy.retries", 3),
        "spec.policy.retries",
        "unknown key 'retries'; expected one of: execution, max_concurrency, "
        "on_failure, timeout_minutes",
    ),
    (
        "unknown top-level key",
        _set("status", "x"),
        "status",
        "unknown key 'status'; expected one of: apiVersion, kind, metadata, spec",
    ),
    (
        "typo in a step key",
        _rename_key("spec.pipelines.1", "depends_on", "depend_on"),
        "spec.pipelines[1].depend_on",
        "unknown key 'depend_on' (did you mean 'depends_on'?); expected one of: "
        "name, pipeline, depends_on, params",
    ),
    (
        "at least one step",
        _set("spec.pipelines", []),
        "spec.pipelines",
        "List should have at least 1 item after validation, not 0, got list",
    ),
    (
        "step pipeline required",
        _delete("spec.pipelines.0.pipeline"),
        "spec.pipelines[0].pipeline",
        "required key 'pipeline' is missing",
    ),
    (
        "pipeline name is text",
        _set("spec.pipelines.0.pipeline", 12),
        "spec.pipelines[0].pipeline",
        "Input should be a valid string, got int 12",
    ),
    (
        "step name required",
        _delete("spec.pipelines.1.name"),
        "spec.pipelines[1].name",
        "required key 'name' is missing",
    ),
    (
        "depends_on is a list",
        _set("spec.pipelines.1.depends_on", "ingest"),
        "spec.pipelines[1].depends_on",
        "Input should be a valid list, got str 'ingest'",
    ),
    (
        "step name",
        _set("spec.pipelines.1.name", "nor malize"),
        "spec.pipelines[1].name",
        "expected a name of letters, digits, '_' or '-', got 'nor malize'",
    ),
    (
        "unique step names",
        _set("spec.pipelines.1.name", "ingest"),
        "spec.pipelines[1].name",
        "step name 'ingest' is already used by spec.pipelines[0]",
    ),
    (
        "dependency names a step",
        _set("spec.pipelines.1.depends_on", ["ingets"]),
        "spec.pipelines[1].depends_on[0]",
        "'ingets' is not a step of this group; did you mean 'ingest'?",
    ),
    (
        "param names are identifiers",
        _set("spec.defaults.bad-key", 1),
        "spec.defaults.bad-key",
        "expected an identifier (letters, digits, '_'), got 'bad-key'",
    ),
    (
        "params are finite JSON values",
        _set("spec.pipelines.0.params.limits", [1, float("inf")]),
        "spec.pipelines[0].params.limits[1]",
        "Input should be a finite number, got float inf",
    ),
    (
        "execution",
        _set("spec.policy.execution", "paralel"),
        "spec.policy.execution",
        "Input should be 'sequential' or 'parallel', got str 'paralel'",
    ),
    (
        "max_concurrency at least 1",
        _set("spec.policy.max_concurrency", 0),
        "spec.policy.max_concurrency",
        "Input should be greater than or equal to 1, got int 0",
    ),
    (
        "max_concurrency is a number, not text",
        _set("spec.policy.max_concurrency", "2"),
        "spec.policy.max_concurrency",
        "Input should be a valid integer, got str '2'",
    ),
    (
        "max_concurrency is not a boolean",
        _set("spec.policy.max_concurrency", True),
        "spec.policy.max_concurrency",
        "Input should be a valid integer, got bool True",
    ),
    (
        "on_failure",
        _set("spec.policy.on_failure", "retry"),
        "spec.policy.on_failure",
        "Input should be 'stop' or 'continue', got str 'retry'",
    ),
    (
        "timeout above zero",
        _set("spec.policy.timeout_minutes", 0),
        "spec.policy.timeout_minutes",
        "Input should be greater than 0, got int 0",
    ),
    (
        "timeout is a number",
        _set("spec.policy.timeout_minutes", "90"),
        "spec.policy.timeout_minutes",
        "Input should be a valid number, got str '90'",
    ),
    (
        "no NUL in text",
        _set("spec.pipelines.0.params.source_type", "a\x00b"),
        "spec.pipelines[0].params.source_type",
        "text may not contain NUL characters (\\0): no database stores them",
    ),
    (
        "template form",
        _set("spec.pipelines.0.params.source_type", "{{ 7*7 }}"),
        "spec.pipelines[0].params.source_type",
        "'{{ 7*7 }}' is not a template; the only form is '{{ params.NAME }}' and "
        "nothing is evaluated",
    ),
    (
        "template attribute access",
        _set("spec.defaults.tier", "{{ params.__class__ }}"),
        "spec.defaults.tier",
        "'{{ params.__class__ }}' is not a template; the only form is "
        "'{{ params.NAME }}' and nothing is evaluated",
    ),
]


def _problem(text: str) -> GroupSpecError:
    with pytest.raises(GroupSpecError) as caught:
        load_group_yaml(text, source="demo.yaml")
    return caught.value


class TestInvalidDocuments:
    @pytest.mark.parametrize(
        ("change", "path", "message"),
        [case[1:] for case in INVALID_DOCUMENTS],
        ids=[case[0] for case in INVALID_DOCUMENTS],
    )
    def test_rule_is_reported_with_path_line_and_message(
        self, change: Change, path: str, message: str
    ) -> None:
        document = valid_document()
        change(document)

        error = _problem(as_yaml(document))

        assert [(issue.path, issue.message) for issue in error.issues] == [
            (path, message)
        ]
        assert error.issues[0].line is not None
        assert error.issues[0].source == "demo.yaml"

    def test_every_problem_is_reported_at_once(self) -> None:
        document = valid_document()
        document["spec"]["policy"]["execution"] = "paralel"
        document["spec"]["pipelines"][1]["depends_on"] = ["nope"]
        document["metadata"]["name"] = "runs"

        error = _problem(as_yaml(document))

        assert sorted(issue.path for issue in error.issues) == [
            "metadata.name",
            "spec.pipelines[1].depends_on[0]",
            "spec.policy.execution",
        ]

    def test_line_points_at_the_offending_key(self) -> None:
        text = VALID_YAML.replace("depends_on: [ingest]", "depend_on: [ingest]")

        error = _problem(text)

        assert error.issues[0].line == 20
        assert str(error.issues[0]).startswith("demo.yaml:20: spec.pipelines[1]")

    def test_duplicate_keys_are_refused(self) -> None:
        text = VALID_YAML.replace(
            "      pipeline: t.normalize\n",
            "      pipeline: t.normalize\n      pipeline: t.ingest\n",
        )

        error = _problem(text)

        assert [(i.path, i.message, i.line) for i in error.issues] == [
            (
                "spec.pipelines[1].pipeline",
                "key 'pipeline' appears more than once in this mapping",
                20,
            )
        ]

    @pytest.mark.parametrize(
        "tag",
        [
            "!!python/object/apply:os.system ['true']",
            "!!python/name:os.system",
            "!!binary aGVsbG8=",
        ],
    )
    def test_tags_beyond_plain_yaml_are_refused(self, tag: str) -> None:
        text = VALID_YAML.replace("source_type: api", f"source_type: {tag}")

        error = _problem(text)

        assert error.issues[0].path == "spec.pipelines[0].params.source_type"
        assert "is not allowed; expected plain YAML values" in error.issues[0].message

    def test_merge_keys_are_refused_by_name(self) -> None:
        text = VALID_YAML.replace("source_type: api", "<<: {source_type: api}")

        error = _problem(text)

        assert [(i.path, i.message, i.line) for i in error.issues] == [
            (
                "spec.pipelines[0].params.<<",
                "merge keys (<<) are not allowed; write the keys out",
                17,
            )
        ]

    def test_alias_bomb_is_refused_before_it_expands(self) -> None:
        lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        for level in range(1, 10):
            refs = ", ".join([f"*a{level - 1}"] * 10)
            lines.append(f"a{level}: &a{level} [{refs}]")

        error = _problem("\n".join(lines))

        assert error.issues[0].message == (
            "aliases expand the document by more than 10000 values"
        )

    def test_deep_nesting_is_refused(self) -> None:
        error = _problem("a: " + "[" * 60 + "]" * 60)

        assert error.issues[0].message == "values are nested more than 50 levels deep"

    def test_deep_nesting_in_a_parsed_document_is_refused(self) -> None:
        document = valid_document()
        deep: list[object] = []
        document["spec"]["defaults"]["deep"] = deep
        for _ in range(5000):
            deep.append([])
            deep = deep[0]  # type: ignore[assignment]

        with pytest.raises(GroupSpecError, match="nested more than 50 levels"):
            PipelineGroup.from_document(document)

    def test_recursive_alias_is_refused(self) -> None:
        error = _problem("a: &a [*a]")

        assert error.issues[0].message == "recursive alias"

    def test_a_few_aliases_are_fine(self) -> None:
        text = VALID_YAML.replace(
            "  defaults:\n",
            "  defaults:\n    limits: &limits [1, 2]\n    copy: *limits\n",
        )

        group = load_group_yaml(text)

        assert group.defaults["copy"] == [1, 2]

    def test_document_over_one_mebibyte_is_refused(self) -> None:
        text = VALID_YAML + "#" * MAX_DOCUMENT_BYTES

        error = _problem(text)

        assert error.issues[0].message.endswith("at most 1048576 (1 MiB) allowed")

    def test_integer_too_long_to_convert_is_refused(self) -> None:
        text = VALID_YAML.replace(
            "max_concurrency: 2", "max_concurrency: " + "9" * 5000
        )

        error = _problem(text)

        assert [(i.path, i.message, i.line) for i in error.issues] == [
            (
                "spec.policy.max_concurrency",
                "integer of 5000 digits; at most 4300 allowed",
                23,
            )
        ]

    def test_nul_in_a_key_is_refused_and_shown_escaped(self) -> None:
        text = VALID_YAML.replace("source_type: api", '"a\\0b": api')

        error = _problem(text)

        assert ("spec.pipelines[0].params.a\\x00b", 17) in [
            (issue.path, issue.line) for issue in error.issues
        ]
        assert "\x00" not in str(error)

    def test_lone_surrogate_in_a_parsed_document_is_refused(self) -> None:
        document = valid_document()
        document["metadata"]["description"] = "half \ud800 a character"

        with pytest.raises(GroupSpecError) as caught:
            PipelineGroup.from_document(document)

        assert [(i.path, i.message) for i in caught.value.issues] == [
            (
                "metadata.description",
                "text is not valid Unicode (a lone surrogate such as \\ud800)",
            )
        ]

    def test_broken_yaml_gives_its_line(self) -> None:
        error = _problem(VALID_YAML + "  bad: [\n")

        assert error.issues[0].message.startswith("not valid YAML")
        assert error.issues[0].line is not None

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("", "document is empty; expected a PipelineGroup mapping"),
            ("- a\n- b\n", "expected a PipelineGroup mapping, got list"),
            ("just text", "expected a PipelineGroup mapping, got str"),
        ],
    )
    def test_document_must_be_a_mapping(self, text: str, message: str) -> None:
        assert _problem(text).issues[0].message == message

    def test_more_than_one_document_is_refused(self) -> None:
        error = _problem(VALID_YAML + "---\n" + VALID_YAML)

        assert error.issues[0].message.startswith("not valid YAML")


class TestReadGroupFile:
    def test_file_over_one_mebibyte_is_refused_unread(self, tmp_path: Path) -> None:
        path = tmp_path / "huge.yaml"
        with path.open("wb") as handle:
            handle.truncate(1024**3)

        with pytest.raises(GroupSpecError) as caught:
            read_group_file(path, "huge.yaml")

        assert str(caught.value.issues[0]) == (
            "huge.yaml: <document>: file is over 1048576 bytes (1 MiB), the most "
            "a group document may be"
        )

    def test_text_that_is_not_utf8_gives_its_line(self, tmp_path: Path) -> None:
        path = tmp_path / "latin1.yaml"
        path.write_bytes(b"apiVersion: spine.io/v1\ndescription: caf\xe9\n")

        with pytest.raises(GroupSpecError) as caught:
            read_group_file(path, "latin1.yaml")

        issue = caught.value.issues[0]
        assert issue.line == 2
        assert issue.message == (
            "cannot read the file: not UTF-8 text (invalid continuation byte at "
            "byte 40)"
        )

    def test_missing_file_says_so(self, tmp_path: Path) -> None:
        with pytest.raises(GroupSpecError, match="cannot read the file: No such"):
            read_group_file(tmp_path / "gone.yaml")

    def test_utf8_file_is_read(self, tmp_path: Path) -> None:
        path = tmp_path / "demo.yaml"
        path.write_text(VALID_YAML, encoding="utf-8")

        assert read_group_file(path) == VALID_YAML


class TestValidDocuments:
    def test_document_reads_into_the_group(self) -> None:
        group = load_group_yaml(VALID_YAML)

        assert group.name == "demo.weekly"
        assert group.step("normalize").depends_on == ["ingest"]
        assert group.policy == ExecutionPolicy("parallel", 2, "continue", 1.5)

    def test_dates_stay_text(self) -> None:
        text = VALID_YAML.replace("source_type: api", "week_ending: 2025-12-13")

        group = load_group_yaml(text)

        assert group.step("ingest").params == {"week_ending": "2025-12-13"}

    def test_defaults_fill_the_policy(self) -> None:
        document = valid_document()
        del document["spec"]["policy"]

        group = load_group_yaml(as_yaml(document))

        assert group.policy == ExecutionPolicy()

    def test_yaml_to_group_to_yaml_is_equivalent(self) -> None:
        group = load_group_yaml(VALID_YAML)

        text = dump_group_yaml(group)

        assert load_group_yaml(text) == group
        assert yaml.safe_load(text) == yaml.safe_load(VALID_YAML)

    def test_policy_defaults_are_written_out_on_the_way_back(self) -> None:
        document = valid_document()
        del document["spec"]["policy"]

        written = yaml.safe_load(dump_group_yaml(load_group_yaml(as_yaml(document))))

        assert written["spec"]["policy"] == {
            "execution": "sequential",
            "max_concurrency": 4,
            "on_failure": "stop",
        }
        del written["spec"]["policy"]
        assert written == document

    def test_from_document_validates_too(self) -> None:
        document = valid_document()
        document["spec"]["pipelines"][0]["depend_on"] = []

        with pytest.raises(GroupSpecError) as caught:
            PipelineGroup.from_document(document)

        assert caught.value.issues[0].path == "spec.pipelines[0].depend_on"
        assert caught.value.issues[0].line is None


class TestSchema:
    def test_schema_forbids_unknown_keys_and_names_the_fields(self) -> None:
        schema = group_document_schema()

        step = schema["$defs"]["StepDocument"]
        assert step["additionalProperties"] is False
        assert set(step["properties"]) == {"name", "pipeline", "depends_on", "params"}
        assert schema["required"] == ["apiVersion", "kind", "metadata", "spec"]

    def test_schema_accepts_the_valid_document(self) -> None:
        jsonschema.validate(valid_document(), group_document_schema())

    @pytest.mark.parametrize(
        ("change", "path"),
        [
            (_set("metadata.name", "runs"), ["metadata", "name"]),
            (_set("spec.defaults.bad-key", 1), ["spec", "defaults"]),
            (
                _set("spec.pipelines.0.params.bad-key", 1),
                ["spec", "pipelines", 0, "params"],
            ),
            (
                _rename_key("spec.pipelines.1", "depends_on", "depend_on"),
                ["spec", "pipelines", 1],
            ),
            (
                _set("spec.policy.max_concurrency", 0),
                ["spec", "policy", "max_concurrency"],
            ),
        ],
        ids=["reserved name", "default key", "step param key", "typo", "minimum"],
    )
    def test_schema_refuses_what_the_loader_refuses(
        self, change: Change, path: list[object]
    ) -> None:
        document = valid_document()
        change(document)
        validator = jsonschema.Draft202012Validator(group_document_schema())

        errors = list(validator.iter_errors(document))

        assert [list(error.absolute_path) for error in errors] == [path]
