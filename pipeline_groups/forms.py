"""Forms of the status pages: the filters of `/` and the run-group form.

The run form asks for exactly the run parameters a group's `{{ params.NAME }}`
templates use, one field each. Values are typed the way a person writes them in
a shell: text stays text, and JSON literals (numbers, true/false, lists,
objects) become the values they spell, so `5` is a number and `["a"]` a list.
Plan errors from the engine come back through `add_plan_error`, which puts each
one next to the field it is about.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from django import forms

from pipeline_groups.exceptions import PlanResolutionError
from pipeline_groups.models import RunStatus

NEVER_RUN = "never"

_JSON_STARTS = ('"', "[", "{", "-", *"0123456789")
_JSON_WORDS = {"true", "false", "null"}


def parse_value(text: str) -> Any:
    """Return the value a person meant by the text of one field."""
    stripped = text.strip()
    if stripped in _JSON_WORDS or stripped.startswith(_JSON_STARTS):
        try:
            return json.loads(stripped)
        except ValueError:
            return text
    return text


def show_value(value: Any) -> str:
    """Return the text that `parse_value` turns back into the value."""
    if isinstance(value, str):
        return value if parse_value(value) == value else json.dumps(value)
    return json.dumps(value)


class PipelineFilterForm(forms.Form):
    """Narrow `/` to one domain, one status of the latest run, or inactive too."""

    domain = forms.ChoiceField(required=False)
    status = forms.ChoiceField(required=False)
    inactive = forms.BooleanField(required=False, label="Include inactive groups")

    def __init__(
        self, data: Mapping[str, Any] | None, *, domains: Iterable[str]
    ) -> None:
        super().__init__(data)
        self.fields["domain"].choices = [("", "All domains")] + [
            (domain, domain) for domain in domains
        ]
        self.fields["status"].choices = [
            ("", "Any status"),
            *RunStatus.choices,
            (NEVER_RUN, "Never run"),
        ]

    def value(self, name: str) -> Any:
        """Return a cleaned filter value, or its empty value if the form is bad."""
        if not self.is_valid():
            return self.fields[name].to_python(None)
        return self.cleaned_data[name]


class RunGroupForm(forms.Form):
    """One field per run parameter the group's templates need, plus extras."""

    extra = forms.CharField(
        required=False,
        label="Other run params",
        help_text=(
            'A JSON object of further run params, e.g. {"force": true}; they are '
            "merged over the group's defaults."
        ),
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
    )

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        names: Iterable[str],
        initial: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(data)
        self.param_names = list(names)
        previous = dict(initial or {})
        fields = {}
        for name in self.param_names:
            fields[name] = forms.CharField(
                label=name,
                required=True,
                initial=show_value(previous[name]) if name in previous else None,
                widget=forms.TextInput(attrs={"spellcheck": "false"}),
            )
        # Template params first, the free-form extras last.
        fields["extra"] = self.fields.pop("extra")
        self.fields = fields

    def clean_extra(self) -> dict[str, Any]:
        """Parse the extra params as a JSON object."""
        text = self.cleaned_data.get("extra", "").strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError as error:
            raise forms.ValidationError(f"Not valid JSON: {error}") from error
        if not isinstance(value, dict):
            raise forms.ValidationError('Give a JSON object, like {"force": true}.')
        return value

    def params(self) -> dict[str, Any]:
        """Return the run params of a valid form: extras, then the named fields."""
        params = dict(self.cleaned_data["extra"])
        for name in self.param_names:
            params[name] = parse_value(self.cleaned_data[name])
        return params

    def add_plan_error(self, error: PlanResolutionError) -> None:
        """Show a plan error beside each field it names, or above the form."""
        named = _named_params(error)
        fields = [name for name in self.param_names if name in named]
        for name in fields:
            self.add_error(name, str(error))
        if not fields:
            self.add_error(None, str(error))


def _named_params(error: PlanResolutionError) -> set[str]:
    """Return every parameter name a plan error carries as data."""
    names: set[str] = set()
    for attribute in ("name", "parameter", "missing", "unexpected", "value"):
        value = getattr(error, attribute, None)
        if isinstance(value, str):
            names.add(value)
        elif isinstance(value, list | tuple):
            names.update(item for item in value if isinstance(item, str))
    return names
