"""The "Run group" form: one field per templated run param, plan errors by fields."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.urls import reverse

from pipeline_groups import register_pipeline
from pipeline_groups.forms import parse_value, show_value
from pipeline_groups.models import Backend, GroupRun, RunStatus, TriggerSource
from tests.factories import GroupDefinitionFactory, group_document

pytestmark = pytest.mark.django_db

URL = reverse("run-group", args=["finra.weekly_refresh"])


@register_pipeline("pages_test.form_step")
def form_step(ctx: object, tier: str, week_ending: str, force: bool = False) -> dict:
    """Do nothing; the form tests only plan and start groups of it."""
    return {}


def form_document() -> dict:
    """Return the factory's two-step document over the test pipeline."""
    document = group_document("finra.weekly_refresh")
    for step in document["spec"]["pipelines"]:
        step["pipeline"] = "pages_test.form_step"
        step["params"] = {}
    return document


@pytest.fixture
def group():
    return GroupDefinitionFactory(name="finra.weekly_refresh", spec=form_document())


class TestRunForm:
    def test_form_has_one_field_per_templated_param(self, operator_client, group):
        html = operator_client.get(URL).content.decode()

        assert 'name="tier"' in html
        assert 'name="week_ending"' in html
        assert 'name="force"' not in html
        assert 'name="extra"' in html

    def test_fields_start_from_the_previous_run_params(
        self, operator_client, group, make_run
    ):
        make_run(group, RunStatus.COMPLETED)

        html = operator_client.get(URL).content.decode()

        assert 'value="NMS_TIER_1"' in html
        assert 'value="2026-01-03"' in html

    def test_valid_form_starts_a_django_q_run_from_the_ui(self, operator_client, group):
        response = operator_client.post(
            URL,
            {"tier": "OTC", "week_ending": "2026-01-09", "extra": '{"force": true}'},
        )

        run = GroupRun.objects.get(group_name="finra.weekly_refresh")
        assert response.status_code == HTTPStatus.FOUND
        assert response["Location"] == f"/#group-{group.pk}"
        assert run.trigger_source == TriggerSource.UI
        assert run.backend == Backend.DJANGO_Q
        assert run.created_by == "operator"
        assert run.params == {
            "tier": "OTC",
            "week_ending": "2026-01-09",
            "force": True,
        }

    def test_run_freezes_the_same_plan_as_the_api(self, operator_client, group):
        params = {"tier": "OTC", "week_ending": "2026-01-09", "force": True}

        operator_client.post(
            URL,
            {"tier": "OTC", "week_ending": "2026-01-09", "extra": '{"force": true}'},
        )
        api = operator_client.post(
            "/api/groups/finra.weekly_refresh/run",
            {"params": params},
            content_type="application/json",
        )

        from_form, from_api = GroupRun.objects.order_by("created_at", "id")
        assert api.status_code == HTTPStatus.ACCEPTED
        assert from_api.trigger_source == TriggerSource.API
        assert from_form.params == from_api.params == params
        assert from_form.plan["steps"] == from_api.plan["steps"]
        assert from_form.plan["policy"] == from_api.plan["policy"]
        assert from_form.group_version == from_api.group_version

    def test_new_run_appears_in_its_row_at_once(self, operator_client, group):
        response = operator_client.post(
            URL, {"tier": "OTC", "week_ending": "2026-01-09"}, follow=True
        )

        html = response.content.decode()
        run = GroupRun.objects.get()
        row = html.split(f'data-group-name="{group.name}"')[1].split("</tr>")[0]
        assert reverse("run-detail", args=[run.pk]) in row
        assert 'data-status="pending"' in row
        assert f"Started run {run.pk}" in html
        assert 'data-polling="on"' in html
        assert f"none~{group.pk}" == operator_client.cookies["spine_rows"].value

    def test_empty_field_is_refused_next_to_it(self, operator_client, group):
        response = operator_client.post(URL, {"tier": "OTC", "week_ending": ""})

        html = response.content.decode()
        field = html.split('data-field="week_ending"')[1].split('data-field="extra"')[0]
        assert response.status_code == HTTPStatus.OK
        assert "This field is required." in field
        assert not GroupRun.objects.exists()

    def test_extra_params_must_be_a_json_object(self, operator_client, group):
        response = operator_client.post(
            URL, {"tier": "OTC", "week_ending": "2026-01-09", "extra": "[1]"}
        )

        assert "Give a JSON object" in response.content.decode()
        assert not GroupRun.objects.exists()

    def test_plan_error_is_shown_beside_the_field_it_names(self, operator_client):
        document = form_document()
        document["spec"]["pipelines"][1]["params"] = {"limit": "{{ params.limit }}"}
        GroupDefinitionFactory(name="finra.weekly_refresh", spec=document)

        response = operator_client.post(
            URL, {"tier": "OTC", "week_ending": "2026-01-09", "limit": "5"}
        )

        html = response.content.decode()
        field = html.split('data-field="limit"')[1].split('data-field="extra"')[0]
        assert "does not accept" in field or "not accepted" in field
        assert "limit" in field
        assert not GroupRun.objects.exists()

    def test_plan_error_without_a_field_is_shown_above_the_form(self, operator_client):
        document = form_document()
        document["spec"]["pipelines"][0]["pipeline"] = "finra.otc_transparency.nope"
        GroupDefinitionFactory(name="finra.weekly_refresh", spec=document)

        response = operator_client.post(
            URL, {"tier": "OTC", "week_ending": "2026-01-09"}
        )

        html = response.content.decode()
        assert 'class="form-errors"' in html
        assert "finra.otc_transparency.nope" in html
        assert not GroupRun.objects.exists()

    def test_inactive_group_is_refused(self, operator_client):
        GroupDefinitionFactory(name="finra.weekly_refresh", is_active=False)

        response = operator_client.post(
            URL, {"tier": "OTC", "week_ending": "2026-01-09"}
        )

        assert "is inactive" in response.content.decode()
        assert not GroupRun.objects.exists()

    def test_running_needs_the_permission(self, viewer_client, group):
        response = viewer_client.post(URL, {"tier": "OTC", "week_ending": "2026-01-09"})

        assert response.status_code == HTTPStatus.FORBIDDEN
        assert not GroupRun.objects.exists()


class TestValueParsing:
    @pytest.mark.parametrize(
        ("text", "value"),
        [
            ("NMS_TIER_1", "NMS_TIER_1"),
            ("2026-01-03", "2026-01-03"),
            ("5", 5),
            ("true", True),
            ('["a", "b"]', ["a", "b"]),
            ("[not json", "[not json"),
        ],
    )
    def test_json_literals_keep_their_type(self, text, value):
        assert parse_value(text) == value

    @pytest.mark.parametrize("value", ["NMS_TIER_1", "5", 5, ["a"], True, "true"])
    def test_shown_value_reads_back_the_same(self, value):
        assert parse_value(show_value(value)) == value
