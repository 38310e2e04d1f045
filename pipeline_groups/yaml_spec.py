"""Read, validate and write group documents (`apiVersion: spine.io/v1`).

Reading is defensive, because group files come from people and from the API:
the text is refused above 1 MiB (a file is not even read further), aliases may
not expand the document past a small bound, only the plain YAML types are
accepted (no `!!python/...`, no other tags), a mapping may not repeat a key, and
text must be storable by every database (no NUL, no lone surrogates). Dates stay
strings, so a document is always plain JSON. The structure is checked by
pydantic models (their JSON Schema is what `manage.py groups schema`
publishes); every problem of a document is reported at once, each with its
file, line, path and what was expected.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationError,
    field_validator,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pipeline_groups import templating
from pipeline_groups.exceptions import GroupSpecError, SpecIssue
from pipeline_groups.spec import (
    ExecutionPolicy,
    PipelineGroup,
    PipelineStep,
)

__all__ = [
    "GroupSpecError",
    "SpecIssue",
    "dump_group_yaml",
    "group_document_schema",
    "load_group_yaml",
    "load_group_yaml_with_lines",
    "parse_group_yaml",
    "read_group_file",
    "salvage_group",
    "validate_document",
]

MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_ALIAS_EXPANSION = 10_000
MAX_DEPTH = 50
# Python refuses to convert longer decimal text to int (CVE-2020-10735).
MAX_INTEGER_DIGITS = 4300
RESERVED_GROUP_NAMES = frozenset({"runs"})

IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
DOTTED = rf"^{IDENTIFIER}(\.{IDENTIFIER})*$"
STEP_NAME = r"^[A-Za-z_][A-Za-z0-9_-]*$"

GroupName = Annotated[
    str, StringConstraints(pattern=DOTTED, min_length=1, max_length=200)
]
DomainName = Annotated[str, StringConstraints(pattern=rf"^$|{DOTTED}", max_length=200)]
StepName = Annotated[str, StringConstraints(pattern=STEP_NAME, max_length=200)]
PipelineName = Annotated[str, StringConstraints(pattern=DOTTED, max_length=200)]
ParamName = Annotated[str, StringConstraints(pattern=rf"^{IDENTIFIER}$")]
Params = dict[ParamName, JsonValue]

_SAFE_TAGS = frozenset(
    "tag:yaml.org,2002:" + name
    for name in ("str", "int", "float", "bool", "null", "seq", "map")
)
_INT_TAG = "tag:yaml.org,2002:int"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class StepDocument(_Strict):
    """One entry of `spec.pipelines`."""

    name: StepName = Field(
        description="Unique within the group; other steps refer to it."
    )
    pipeline: PipelineName = Field(description="A registered pipeline name.")
    depends_on: list[StepName] = Field(
        default_factory=list, description="Steps that must complete first."
    )
    params: Params = Field(
        default_factory=dict,
        description="Step params; override defaults and run params.",
    )


class PolicyDocument(_Strict):
    """`spec.policy`: how the group runs and what a failure does."""

    execution: Literal["sequential", "parallel"] = "sequential"
    max_concurrency: int = Field(default=4, ge=1)
    on_failure: Literal["stop", "continue"] = "stop"
    timeout_minutes: float | None = Field(default=None, gt=0)


class SpecDocument(_Strict):
    """`spec`: defaults, the steps and the policy."""

    defaults: Params = Field(
        default_factory=dict, description="Params every step starts from."
    )
    pipelines: list[StepDocument] = Field(min_length=1)
    policy: PolicyDocument = Field(default_factory=PolicyDocument)


class MetadataDocument(_Strict):
    """`metadata`: the group's name and how it is described."""

    name: GroupName = Field(
        description="Dotted identifier, e.g. finra.weekly_refresh; 'runs' is reserved.",
        json_schema_extra={"not": {"enum": sorted(RESERVED_GROUP_NAMES)}},
    )
    domain: DomainName = ""
    version: int = Field(
        default=1,
        ge=1,
        description="Written by export; the server assigns versions on save.",
    )
    description: str = ""
    tags: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_GROUP_NAMES:
            raise ValueError(f"the name {value!r} is reserved")
        return value


class GroupDocument(_Strict):
    """A whole group document, as in a file under groups/."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        allow_inf_nan=False,
        title="Spine PipelineGroup",
        populate_by_name=True,
    )

    api_version: Literal["spine.io/v1"] = Field(alias="apiVersion")
    kind: Literal["PipelineGroup"]
    metadata: MetadataDocument
    spec: SpecDocument


def _close_pattern_properties(node: Any) -> None:
    """Make param mappings refuse keys outside their pattern, as the models do.

    pydantic writes `patternProperties` for a dict with constrained keys but
    leaves other keys allowed; an editor should flag `bad-key` as the loader does.
    """
    if isinstance(node, dict):
        if "patternProperties" in node:
            node.setdefault("additionalProperties", False)
        for child in node.values():
            _close_pattern_properties(child)
    elif isinstance(node, list):
        for child in node:
            _close_pattern_properties(child)


def group_document_schema() -> dict[str, Any]:
    """Return the JSON Schema of a group document, for editors and the API."""
    schema = GroupDocument.model_json_schema(by_alias=True)
    _close_pattern_properties(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://spine.io/schemas/pipeline-group-v1.json",
        **schema,
    }


# Reading YAML.


# libyaml parses about ten times faster; the constructor stays the safe one.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """SafeLoader that keeps dates as the text that was written."""


# Dates and times stay the text that was written: a document is plain JSON.
_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp) for tag, regexp in resolvers if not tag.endswith(":timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _format_path(parts: tuple[Any, ...]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        part = str(part)
        if not part.isprintable():
            # A key with a NUL or a lone surrogate is shown escaped, not raw.
            part = part.encode("unicode_escape").decode("ascii")
        text += f".{part}" if text else part
    return text


class _NodeIndex:
    """Walk the composed node tree once: lines by path, tags, alias expansion."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[tuple[Any, ...], int] = {}
        self.refused: list[SpecIssue] = []
        self.duplicates: list[SpecIssue] = []
        self.distinct: set[int] = set()
        self.expanded = 0

    def walk(self, node: Node, path: tuple[Any, ...], active: set[int]) -> None:
        """Record the node's line and check its tag, then its children."""
        self.expanded += 1
        self.distinct.add(id(node))
        if self.expanded - len(self.distinct) > MAX_ALIAS_EXPANSION:
            raise _TooLarge(node)
        if len(path) > MAX_DEPTH:
            raise _TooDeep(node)
        self.lines.setdefault(path, node.start_mark.line + 1)

        if node.tag not in _SAFE_TAGS:
            message = (
                "merge keys (<<) are not allowed; write the keys out"
                if node.tag == _MERGE_TAG
                else f"tag {node.tag!r} is not allowed; expected plain YAML values"
            )
            self.refused.append(
                SpecIssue(
                    _format_path(path),
                    message,
                    node.start_mark.line + 1,
                    self.source,
                )
            )
            return
        if id(node) in active:
            raise _Recursive(node)
        if isinstance(node, ScalarNode):
            self._check_integer(node, path)
            return

        active.add(id(node))
        if isinstance(node, MappingNode):
            self._check_keys(node, path)
        for child_path, child in self._children(node, path):
            self.walk(child, child_path, active)
        active.discard(id(node))

    def _check_integer(self, node: ScalarNode, path: tuple[Any, ...]) -> None:
        # Constructing the int would raise a bare ValueError, past our reporting.
        if node.tag != _INT_TAG or len(node.value) <= MAX_INTEGER_DIGITS:
            return
        digits = sum(character.isdigit() for character in node.value)
        if digits > MAX_INTEGER_DIGITS:
            self.refused.append(
                SpecIssue(
                    _format_path(path),
                    f"integer of {digits} digits; at most {MAX_INTEGER_DIGITS} allowed",
                    node.start_mark.line + 1,
                    self.source,
                )
            )

    def _check_keys(self, node: MappingNode, path: tuple[Any, ...]) -> None:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode):
                continue
            if key_node.value in seen:
                self.duplicates.append(
                    SpecIssue(
                        _format_path((*path, key_node.value)),
                        f"key {key_node.value!r} appears more than once in this "
                        "mapping",
                        key_node.start_mark.line + 1,
                        self.source,
                    )
                )
            seen.add(key_node.value)

    @staticmethod
    def _children(
        node: Node, path: tuple[Any, ...]
    ) -> Iterator[tuple[tuple[Any, ...], Node]]:
        if isinstance(node, SequenceNode):
            for index, child in enumerate(node.value):
                yield (*path, index), child
        elif isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, ScalarNode) else "?"
                yield (*path, key), key_node
                yield (*path, key), value_node

    def line(self, parts: tuple[Any, ...]) -> int | None:
        """Return the line of the deepest part of the path the document has."""
        for end in range(len(parts), -1, -1):
            line = self.lines.get(tuple(parts[:end]))
            if line is not None:
                return line
        return None


class _TooLarge(Exception):
    def __init__(self, node: Node) -> None:
        self.node = node


class _TooDeep(Exception):
    def __init__(self, node: Node) -> None:
        self.node = node


class _Recursive(Exception):
    def __init__(self, node: Node) -> None:
        self.node = node


def _issue(source: str, message: str, line: int | None = None, path: str = "") -> None:
    raise GroupSpecError([SpecIssue(path, message, line, source)], source)


def _parse(text: str, source: str) -> tuple[Any, _NodeIndex, list[SpecIssue]]:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_DOCUMENT_BYTES:
        _issue(
            source,
            f"document is {size} bytes; at most {MAX_DOCUMENT_BYTES} (1 MiB) allowed",
        )

    loader = _Loader(text)
    index = _NodeIndex(source)
    try:
        node = loader.get_single_node()
        if node is None:
            _issue(source, "document is empty; expected a PipelineGroup mapping")
        index.walk(node, (), set())
        if index.refused:
            raise GroupSpecError(index.refused + index.duplicates, source)
        data = loader.construct_document(node)
    except _TooLarge as error:
        _issue(
            source,
            f"aliases expand the document by more than {MAX_ALIAS_EXPANSION} values",
            error.node.start_mark.line + 1,
        )
    except _Recursive as error:
        _issue(source, "recursive alias", error.node.start_mark.line + 1)
    except _TooDeep as error:
        _issue(
            source,
            f"values are nested more than {MAX_DEPTH} levels deep",
            error.node.start_mark.line + 1,
        )
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = error.problem or str(error)
        _issue(source, f"not valid YAML: {reason}", line)
    except yaml.YAMLError as error:
        _issue(source, f"not valid YAML: {error}")
    finally:
        loader.dispose()

    return data, index, list(index.duplicates)


def load_group_yaml(text: str, source: str = "<string>") -> PipelineGroup:
    """Parse and validate one group document; raise `GroupSpecError` on any problem."""
    return _load(text, source)[0]


def load_group_yaml_with_lines(
    text: str, source: str = "<string>"
) -> tuple[PipelineGroup, dict[str, int]]:
    """Like `load_group_yaml`, plus the line of every path of the document.

    `groups validate` uses the lines to place the planner's problems too.
    """
    group, index = _load(text, source)
    lines = {_format_path(parts): line for parts, line in index.lines.items()}
    return group, lines


def read_group_file(path: Path, source: str | None = None) -> str:
    """Return a group file's text; raise `GroupSpecError` when it cannot be one.

    At most 1 MiB and one byte is read, so a huge file is refused without
    being loaded into memory; the text must be UTF-8.
    """
    source = source or str(path)

    def refuse(message: str, line: int | None = None) -> GroupSpecError:
        return GroupSpecError([SpecIssue("", message, line, source)], source)

    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as error:
        raise refuse(f"cannot read the file: {error.strerror or error}") from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise refuse(
            f"file is over {MAX_DOCUMENT_BYTES} bytes (1 MiB), the most a group "
            "document may be"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise refuse(
            f"cannot read the file: not UTF-8 text ({error.reason} at byte "
            f"{error.start})",
            line,
        ) from None


def parse_group_yaml(text: str, source: str = "<string>") -> tuple[Any, dict[str, int]]:
    """Parse the text as safely as `load_group_yaml` does, without the schema.

    Returns the plain data and the line of every path. Raises `GroupSpecError`
    only for what stops parsing (size, syntax, tags, aliases, depth); `groups
    validate` uses it to check the registry even when the schema fails.
    """
    if not isinstance(text, str):
        raise GroupSpecError(
            [SpecIssue("", "expected YAML text", None, source)], source
        )
    data, index, _ = _parse(text, source)
    return data, {_format_path(parts): line for parts, line in index.lines.items()}


def salvage_group(document: Any) -> tuple[PipelineGroup, dict[str, int]]:
    """Build what can be read of a document the schema refused.

    Steps whose name and pipeline are text are kept (the first of a name),
    with their text dependencies and params of text keys; everything else is
    left out. Returns the group and each kept step's position in
    `spec.pipelines`, so the planner's problems can still be placed.
    """
    data = document if isinstance(document, Mapping) else {}
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    spec = data.get("spec")
    defaults = spec.get("defaults") if isinstance(spec, Mapping) else None
    group = PipelineGroup(
        name=name if isinstance(name, str) else "<document>",
        defaults=_text_keys(defaults),
    )

    positions: dict[str, int] = {}
    for position, step in _raw_steps(data):
        step_name, pipeline = step.get("name"), step.get("pipeline")
        if not isinstance(step_name, str) or not isinstance(pipeline, str):
            continue
        if step_name in positions:
            continue
        depends_on = step.get("depends_on")
        if not isinstance(depends_on, list):
            depends_on = []
        group.add(
            step_name,
            pipeline,
            depends_on=[item for item in depends_on if isinstance(item, str)],
            params=_text_keys(step.get("params")),
        )
        positions[step_name] = position
    return group, positions


def _text_keys(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        return {}
    return {key: item for key, item in value.items() if isinstance(key, str)}


def _load(text: str, source: str) -> tuple[PipelineGroup, _NodeIndex]:
    if not isinstance(text, str):
        raise GroupSpecError(
            [SpecIssue("", "expected YAML text", None, source)], source
        )
    data, index, duplicates = _parse(text, source)
    return _validate(data, source, index, duplicates), index


def validate_document(
    document: Mapping[str, Any], source: str = "<document>"
) -> PipelineGroup:
    """Validate an already-parsed document (a dict from JSON or YAML)."""
    if _depth_exceeds(document, MAX_DEPTH):
        message = f"values are nested more than {MAX_DEPTH} levels deep"
        raise GroupSpecError([SpecIssue("", message, None, source)], source)
    return _validate(document, source, None, [])


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Return whether a JSON-like value nests deeper than `limit` (no recursion)."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if depth > limit:
            return True
        if isinstance(item, Mapping):
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list | tuple):
            pending.extend((child, depth + 1) for child in item)
    return False


# Validation.


def _expected_keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _model_at(parts: tuple[Any, ...]) -> type[BaseModel] | None:
    """Which document model a location inside the document belongs to."""
    model: type[BaseModel] | None = GroupDocument
    for part in parts:
        if model is None or isinstance(part, int):
            continue
        fields = {f.alias or n: f for n, f in model.model_fields.items()}
        field = fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [annotation, *args]
        model = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)),
            None,
        )
    return model


def _message(error: Mapping[str, Any], parts: tuple[Any, ...]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        model = _model_at(parts[:-1])
        expected = _expected_keys(model) if model else []
        close = difflib.get_close_matches(str(parts[-1]), expected, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown key {parts[-1]!r}{hint}; expected one of: " + ", ".join(
            expected
        )
    if kind == "missing":
        return f"required key {parts[-1]!r} is missing"
    if kind == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern", "")
        what = {
            DOTTED: "a dotted identifier such as finra.weekly_refresh",
            STEP_NAME: "a name of letters, digits, '_' or '-'",
            f"^{IDENTIFIER}$": "an identifier (letters, digits, '_')",
            rf"^$|{DOTTED}": "empty or a dotted identifier",
        }.get(pattern, f"text matching {pattern}")
        return f"expected {what}, got {error['input']!r}"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        return message[len("Value error, ") :]
    value = error.get("input")
    if isinstance(value, str | int | float | bool) or value is None:
        return f"{message}, got {type(value).__name__} {value!r}"
    return f"{message}, got {type(value).__name__}"


_JSON_TAGS = frozenset({"list", "dict", "str", "bool", "int", "float", "none"})


def _without_union_tags(parts: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop the member names pydantic puts in locations inside JSON values.

    Inside params, a location alternates a key (or index) and the union member
    tried (`params.x.list[1].float`); a person wants `params.x[1]`.
    """
    if parts[:2] == ("spec", "defaults"):
        prefix = 2
    elif parts[:2] == ("spec", "pipelines") and parts[3:4] == ("params",):
        prefix = 4
    else:
        return parts
    rest = parts[prefix:]
    kept = [
        part
        for position, part in enumerate(rest)
        if not (position % 2 == 1 and part in _JSON_TAGS)
    ]
    return parts[:prefix] + tuple(kept)


def _pydantic_issues(
    error: ValidationError, source: str, index: _NodeIndex | None
) -> list[SpecIssue]:
    issues = []
    for item in error.errors():
        parts = _without_union_tags(tuple(p for p in item["loc"] if p != "[key]"))
        line = index.line(parts) if index is not None else None
        issues.append(
            SpecIssue(_format_path(parts), _message(item, parts), line, source)
        )
    return issues


def _raw_steps(data: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
    """Return the entries of `spec.pipelines` that are mappings, with positions."""
    spec = data.get("spec")
    pipelines = spec.get("pipelines") if isinstance(spec, Mapping) else None
    if not isinstance(pipelines, list):
        return []
    return [
        (position, step)
        for position, step in enumerate(pipelines)
        if isinstance(step, Mapping)
    ]


def _reference_issues(
    data: Mapping[str, Any], source: str, index: _NodeIndex | None
) -> list[SpecIssue]:
    """Check across fields: unique step names, known dependencies, templates.

    These run on the raw document, next to the schema, so a file with both kinds
    of mistakes shows them all at once; parts the schema rejects are skipped.
    """

    def issue(parts: tuple[Any, ...], message: str) -> SpecIssue:
        line = index.line(parts) if index is not None else None
        return SpecIssue(_format_path(parts), message, line, source)

    issues = []
    steps = _raw_steps(data)
    first_seen: dict[str, int] = {}
    for position, step in steps:
        name = step.get("name")
        if not isinstance(name, str):
            continue
        if name in first_seen:
            issues.append(
                issue(
                    ("spec", "pipelines", position, "name"),
                    f"step name {name!r} is already used by "
                    f"spec.pipelines[{first_seen[name]}]",
                )
            )
        first_seen.setdefault(name, position)

    names = list(first_seen)
    for position, step in steps:
        depends_on = step.get("depends_on")
        if not isinstance(depends_on, list):
            continue
        for slot, dependency in enumerate(depends_on):
            if isinstance(dependency, str) and dependency not in first_seen:
                close = difflib.get_close_matches(dependency, names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                issues.append(
                    issue(
                        ("spec", "pipelines", position, "depends_on", slot),
                        f"{dependency!r} is not a step of this group{hint}",
                    )
                )

    issues.extend(_template_issues(data, steps, issue))
    issues.extend(_text_issues(data, (), issue))
    return issues


def _template_issues(
    data: Mapping[str, Any],
    steps: list[tuple[int, Mapping[str, Any]]],
    issue: Callable[[tuple[Any, ...], str], SpecIssue],
) -> list[SpecIssue]:
    spec = data.get("spec")
    places: list[tuple[tuple[Any, ...], Any]] = []
    if isinstance(spec, Mapping) and isinstance(spec.get("defaults"), Mapping):
        places.append((("spec", "defaults"), spec["defaults"]))
    places += [
        (("spec", "pipelines", position, "params"), step["params"])
        for position, step in steps
        if isinstance(step.get("params"), Mapping)
    ]

    found = []
    for prefix, params in places:
        for problem in templating.find_problems(params):
            found.append(
                issue(
                    prefix + _split_path(problem.path),
                    f"{problem.text!r} is not a template; the only form is "
                    "'{{ params.NAME }}' and nothing is evaluated",
                )
            )
    return found


def _unstorable(text: str) -> str | None:
    """Say why a database cannot store this text, if it cannot."""
    if "\x00" in text:
        return "text may not contain NUL characters (\\0): no database stores them"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "text is not valid Unicode (a lone surrogate such as \\ud800)"
    return None


def _text_issues(
    value: Any,
    parts: tuple[Any, ...],
    issue: Callable[[tuple[Any, ...], str], SpecIssue],
) -> list[SpecIssue]:
    """Find every key and string of the document a database would refuse.

    PostgreSQL refuses NUL in text and JSON, and no UTF-8 database takes a lone
    surrogate: such a document must fail here, not when it is saved.
    """
    found = []
    if isinstance(value, str):
        reason = _unstorable(value)
        if reason is not None:
            found.append(issue(parts, reason))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            reason = _unstorable(key) if isinstance(key, str) else None
            if reason is not None:
                found.append(issue((*parts, key), "key: " + reason))
                continue
            found.extend(_text_issues(item, (*parts, key), issue))
    elif isinstance(value, list | tuple):
        for position, item in enumerate(value):
            found.extend(_text_issues(item, (*parts, position), issue))
    return found


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _split_path(path: str) -> tuple[Any, ...]:
    return tuple(
        int(number) if number else name for name, number in _PATH_PART.findall(path)
    )


def _validate(
    data: Any,
    source: str,
    index: _NodeIndex | None,
    issues: list[SpecIssue],
) -> PipelineGroup:
    issues = list(issues)
    if not isinstance(data, Mapping):
        issues.append(
            SpecIssue(
                "",
                f"expected a PipelineGroup mapping, got {type(data).__name__}",
                1 if index is not None else None,
                source,
            )
        )
        raise GroupSpecError(issues, source)

    document = None
    try:
        document = GroupDocument.model_validate(data)
    except ValidationError as error:
        issues.extend(_pydantic_issues(error, source, index))

    issues.extend(_reference_issues(data, source, index))
    if issues or document is None:
        issues.sort(key=lambda issue: issue.line or 0)
        raise GroupSpecError(issues, source)
    return _group_from(document)


def _group_from(document: GroupDocument) -> PipelineGroup:
    metadata = document.metadata
    spec = document.spec
    return PipelineGroup(
        name=metadata.name,
        domain=metadata.domain,
        version=metadata.version,
        description=metadata.description,
        tags=list(metadata.tags),
        defaults=dict(spec.defaults),
        steps=[
            PipelineStep(
                name=step.name,
                pipeline=step.pipeline,
                depends_on=list(step.depends_on),
                params=dict(step.params),
            )
            for step in spec.pipelines
        ],
        policy=ExecutionPolicy(
            execution=spec.policy.execution,
            max_concurrency=spec.policy.max_concurrency,
            on_failure=spec.policy.on_failure,
            timeout_minutes=spec.policy.timeout_minutes,
        ),
    )


# Writing YAML.


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line text as a block and never uses aliases."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        """Indent list items under their key, as people write them."""
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        """Write every value out, even when the same object appears twice."""
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_group_yaml(group: PipelineGroup) -> str:
    """Return the group as a YAML document that `load_group_yaml` reads back equal."""
    return yaml.dump(
        group.to_document(),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=88,
    )
