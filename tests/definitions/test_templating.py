"""Templates: one form, type-keeping, never evaluated."""

from __future__ import annotations

import pytest

from pipeline_groups import templating


class TestRender:
    @pytest.mark.parametrize(
        "value", [["A", "B"], {"k": 1}, 3, 2.5, True, None, "text"]
    )
    def test_whole_template_keeps_the_type(self, value: object) -> None:
        assert templating.render("{{ params.v }}", {"v": value}) == value

    def test_spaces_inside_braces_are_optional(self) -> None:
        assert templating.render("{{params.v}}", {"v": [1]}) == [1]

    def test_embedded_template_becomes_text(self) -> None:
        rendered = templating.render(
            "{{ params.a }}-{{ params.b }}-{{ params.c }}",
            {"a": "x", "b": 2, "c": ["y"]},
        )

        assert rendered == 'x-2-["y"]'

    def test_nested_values_are_rendered(self) -> None:
        value = {"list": ["{{ params.a }}", 1], "map": {"b": "{{ params.a }}"}}

        assert templating.render(value, {"a": 5}) == {"list": [5, 1], "map": {"b": 5}}

    def test_missing_param_names_it(self) -> None:
        with pytest.raises(templating.MissingParameter) as caught:
            templating.render("x {{ params.week }}", {})

        assert caught.value.name == "week"
        assert caught.value.template == "{{ params.week }}"

    @pytest.mark.parametrize(
        "text",
        [
            "{{ 7*7 }}",
            "{{ params.__class__ }}",
            "{{ params.a.b }}",
            "{{ params['a'] }}",
            "{{ params.a | upper }}",
            "{{ params.a",
            "{{ config }}",
        ],
    )
    def test_anything_else_is_refused_unevaluated(self, text: str) -> None:
        with pytest.raises(templating.InvalidTemplate):
            templating.render(text, {"a": 1})

    def test_text_without_braces_is_left_alone(self) -> None:
        assert templating.render("a } b { c", {}) == "a } b { c"


class TestInspect:
    def test_find_problems_gives_paths(self) -> None:
        problems = templating.find_problems({"a": ["ok", "{{ 1 }}"], "b": "fine"})

        assert problems == [templating.TemplateProblem("a[1]", "{{ 1 }}")]

    def test_referenced_params_in_first_use_order(self) -> None:
        value = {"x": "{{ params.b }} {{ params.a }}", "y": ["{{ params.b }}"]}

        assert templating.referenced_params(value) == ["b", "a"]
