"""The admin of groups and runs: YAML editing, versions, actions, read-only mode."""

from __future__ import annotations

import re
from html import unescape
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from pipeline_groups import register_pipeline, storage
from pipeline_groups.cli.definitions import validate_file
from pipeline_groups.models import (
    EventKind,
    GroupDefinition,
    GroupRun,
    GroupSource,
    GroupVersion,
    RunStatus,
    TriggerSource,
)
from pipeline_groups.storage import save_group
from pipeline_groups.yaml_spec import load_group_yaml
from tests.factories import (
    DeadLetterFactory,
    ExecutionEventFactory,
    ExecutionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:pipeline_groups_groupdefinition_add")
LIST_URL = reverse("admin:pipeline_groups_groupdefinition_changelist")
RUNS_URL = reverse("admin:pipeline_groups_grouprun_changelist")
# The start of a form control a person could type into (hidden ids do not count).
EDITABLE = r'<(?:input(?![^>]*type="hidden")|select|textarea)[^>]+'


@register_pipeline("pages_test.admin_step")
def admin_step(ctx: Any, week_ending: str = "", force: bool = False) -> dict:
    """Do nothing; the admin tests only plan groups of it."""
    return {}


def document(
    name: str = "admin.weekly", *, templated: bool = False, steps: int = 2
) -> dict[str, Any]:
    """Return a valid group document over the test pipeline."""
    pipelines: list[dict[str, Any]] = [
        {"name": "extract", "pipeline": "pages_test.admin_step"}
    ]
    for index in range(1, steps):
        pipelines.append(
            {
                "name": f"step_{index}",
                "pipeline": "pages_test.admin_step",
                "depends_on": [pipelines[-1]["name"]],
            }
        )
    spec: dict[str, Any] = {"pipelines": pipelines}
    if templated:
        spec["defaults"] = {"week_ending": "{{ params.week_ending }}"}
    return {
        "apiVersion": "spine.io/v1",
        "kind": "PipelineGroup",
        "metadata": {"name": name, "domain": "admin", "description": "Admin test."},
        "spec": spec,
    }


def as_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False)


def stored(name: str = "admin.weekly", **kwargs: Any) -> GroupDefinition:
    definition, _ = save_group(
        load_group_yaml(as_yaml(document(name, **kwargs))), source=GroupSource.API
    )
    return definition


@pytest.fixture
def admin_client() -> Client:
    user = UserFactory(username="admin", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def editor_client() -> Client:
    """Return a staff user who may edit groups but not run them."""
    user = UserFactory(username="editor", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=[
                "view_groupdefinition",
                "change_groupdefinition",
                "view_grouprun",
                "change_grouprun",
            ]
        )
    )
    client = Client()
    client.force_login(user)
    return client


def change_url(definition: GroupDefinition) -> str:
    return reverse("admin:pipeline_groups_groupdefinition_change", args=[definition.pk])


def _admin_and_validate(
    admin_client: Any, broken: dict[str, Any], tmp_path: Path
) -> tuple[list[str], list[str]]:
    """Post a document to the add form; return its messages and `groups validate`'s.

    The file's name in validate's messages is replaced by the form's source.
    """
    text = as_yaml(broken)
    path = tmp_path / "weekly.yaml"
    path.write_text(text)
    source = storage.display_path(path)
    expected = [str(issue).replace(source, "yaml", 1) for issue in validate_file(path)]

    html = admin_client.post(ADD_URL, {"yaml": text}).content.decode()

    errors = re.search(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', html, re.S)
    messages = [unescape(item) for item in re.findall(r"<li>(.*?)</li>", errors[1])]
    return messages, expected


class TestGroupYamlEditing:
    def test_adding_a_group_from_yaml_stores_version_one(self, admin_client):
        response = admin_client.post(ADD_URL, {"yaml": as_yaml(document())})

        definition = GroupDefinition.objects.get(name="admin.weekly")
        assert response.status_code == HTTPStatus.FOUND
        assert definition.version == 1
        assert definition.source == GroupSource.ADMIN
        assert definition.created_by == "admin"
        assert list(definition.versions.values_list("version", flat=True)) == [1]

    def test_change_form_shows_the_document_as_yaml(self, admin_client):
        definition = stored()

        html = admin_client.get(change_url(definition)).content.decode()

        assert '<textarea name="yaml"' in html
        assert "name: admin.weekly" in html
        assert "pipeline: pages_test.admin_step" in html

    def test_each_changed_save_is_a_new_version_with_a_diff(self, admin_client):
        definition = stored()
        changed = document(steps=3)

        admin_client.post(change_url(definition), {"yaml": as_yaml(changed)})
        html = admin_client.get(change_url(definition)).content.decode()

        definition.refresh_from_db()
        assert definition.version == 2
        assert GroupVersion.objects.filter(group=definition).count() == 2
        assert "diff against v1" in html
        assert "+  - name: step_2" in html
        assert "-  version: 1" not in html

    def test_saving_the_same_document_keeps_the_version(self, admin_client):
        definition = stored()

        admin_client.post(change_url(definition), {"yaml": as_yaml(document())})

        definition.refresh_from_db()
        assert definition.version == 1

    def test_invalid_yaml_is_refused_with_line_and_path(self, admin_client):
        broken = document()
        broken["spec"]["pipelines"][1]["depends_on"] = ["missing_step"]
        text = as_yaml(broken)

        response = admin_client.post(ADD_URL, {"yaml": text})

        html = response.content.decode()
        line = next(
            number
            for number, content in enumerate(text.splitlines(), start=1)
            if "missing_step" in content
        )
        assert response.status_code == HTTPStatus.OK
        assert f"yaml:{line}: spec.pipelines[1].depends_on[0]:" in html
        assert not GroupDefinition.objects.filter(name="admin.weekly").exists()

    def test_every_problem_is_listed_at_once(self, admin_client):
        broken = document()
        broken["spec"]["pipelines"][0]["pipeline"] = 5
        broken["spec"]["pipelines"][1]["depends_on"] = ["nowhere"]

        html = admin_client.post(ADD_URL, {"yaml": as_yaml(broken)}).content.decode()

        assert "spec.pipelines[0].pipeline" in html
        assert "spec.pipelines[1].depends_on[0]" in html

    @pytest.mark.parametrize(
        "mistake",
        ["unregistered pipeline", "unknown step param", "unknown dependency"],
    )
    def test_messages_are_those_of_groups_validate(
        self, admin_client, tmp_path, mistake
    ):
        broken = document()
        if mistake == "unregistered pipeline":
            broken["spec"]["pipelines"][1]["pipeline"] = "pages_test.admin_stpe"
        elif mistake == "unknown step param":
            broken["spec"]["pipelines"][1]["params"] = {"wek_ending": "2026-01-02"}
        else:
            broken["spec"]["pipelines"][1]["depends_on"] = ["nowhere"]

        messages, expected = _admin_and_validate(admin_client, broken, tmp_path)

        assert len(expected) == 1
        assert messages == expected
        assert re.match(r"yaml:\d+: spec\.pipelines\[1\]\.", messages[0])
        assert not GroupDefinition.objects.filter(name="admin.weekly").exists()

    def test_a_schema_error_does_not_hide_a_step_problem(self, admin_client, tmp_path):
        broken = document()
        broken["spec"]["policy"] = {"execution": "paralel"}
        broken["spec"]["pipelines"][1]["pipeline"] = "pages_test.admin_stpe"

        messages, expected = _admin_and_validate(admin_client, broken, tmp_path)

        assert len(expected) == 2
        assert messages == expected

    def test_unregistered_pipeline_is_refused(self, admin_client):
        broken = document()
        broken["spec"]["pipelines"][0]["pipeline"] = "pages_test.admin_stpe"

        html = admin_client.post(ADD_URL, {"yaml": as_yaml(broken)}).content.decode()

        assert "pages_test.admin_stpe" in html
        assert "is not registered" in html
        assert not GroupDefinition.objects.filter(name="admin.weekly").exists()

    def test_renaming_through_the_document_is_refused(self, admin_client):
        definition = stored()

        response = admin_client.post(
            change_url(definition), {"yaml": as_yaml(document("admin.renamed"))}
        )

        html = unescape(response.content.decode())
        assert (
            "yaml:4: metadata.name: the group is called 'admin.weekly'; a name "
            "cannot change here (create 'admin.renamed' as a new group)"
        ) in html
        assert not GroupDefinition.objects.filter(name="admin.renamed").exists()

    def test_adding_a_name_that_exists_is_refused(self, admin_client):
        stored()

        response = admin_client.post(ADD_URL, {"yaml": as_yaml(document())})

        assert (
            "yaml:4: metadata.name: a group called 'admin.weekly' already exists; "
            "edit that one instead"
        ) in unescape(response.content.decode())
        assert GroupDefinition.objects.get(name="admin.weekly").version == 1


def listed(html: str) -> list[str]:
    """Return the group names of a changelist page, in order."""
    return re.findall(r'<th class="field-name"><a href="[^"]+">([^<]+)</a>', html)


class TestGroupList:
    def test_list_shows_name_domain_version_active_and_steps(self, admin_client):
        stored("admin.weekly", steps=3)

        html = admin_client.get(LIST_URL).content.decode()

        for column in ("name", "domain", "version", "is_active", "step_count"):
            assert re.search(
                rf'<th scope="col" class="[^"]*\bcolumn-{column}[ "]', html
            )
        assert '<td class="field-step_count">3</td>' in html
        assert "admin.weekly" in listed(html)

    def test_search_on_name_and_domain(self, admin_client):
        stored("admin.weekly")
        stored("admin.daily")
        other = document("market.prices")
        other["metadata"]["domain"] = "market_data"
        save_group(load_group_yaml(as_yaml(other)), source=GroupSource.API)

        by_name = admin_client.get(LIST_URL, {"q": "daily"}).content.decode()
        by_domain = admin_client.get(LIST_URL, {"q": "market_data"}).content.decode()

        assert listed(by_name) == ["admin.daily"]
        assert listed(by_domain) == ["market.prices"]

    def test_filters_on_domain_and_active(self, admin_client):
        stored("admin.weekly")
        stored("admin.daily")
        other = document("market.prices")
        other["metadata"]["domain"] = "market_data"
        save_group(load_group_yaml(as_yaml(other)), source=GroupSource.API)
        GroupDefinition.objects.filter(name="admin.daily").update(is_active=False)

        by_domain = admin_client.get(LIST_URL, {"domain": "admin"})
        active = admin_client.get(
            LIST_URL, {"domain": "admin", "is_active__exact": "1"}
        )
        inactive = admin_client.get(LIST_URL, {"is_active__exact": "0"})

        assert listed(by_domain.content.decode()) == ["admin.daily", "admin.weekly"]
        assert listed(active.content.decode()) == ["admin.weekly"]
        assert listed(inactive.content.decode()) == ["admin.daily"]

    def test_groups_cannot_be_deleted_only_deactivated(self, admin_client):
        definition = stored()

        response = admin_client.get(
            reverse(
                "admin:pipeline_groups_groupdefinition_delete", args=[definition.pk]
            )
        )

        assert response.status_code == HTTPStatus.FORBIDDEN

    def test_deactivate_and_activate_actions(self, admin_client):
        definition = stored()

        admin_client.post(
            LIST_URL,
            {"action": "deactivate_groups", "_selected_action": [definition.pk]},
        )
        definition.refresh_from_db()
        inactive = definition.is_active
        admin_client.post(
            LIST_URL, {"action": "activate_groups", "_selected_action": [definition.pk]}
        )
        definition.refresh_from_db()

        assert inactive is False
        assert definition.is_active is True


class TestRunAction:
    def test_group_without_params_is_started_from_the_admin(self, admin_client):
        definition = stored()

        admin_client.post(
            LIST_URL, {"action": "run_groups", "_selected_action": [definition.pk]}
        )

        run = GroupRun.objects.get(group_name="admin.weekly")
        assert run.trigger_source == TriggerSource.ADMIN
        assert run.created_by == "admin"

    def test_group_needing_params_goes_to_the_run_form(self, admin_client):
        definition = stored(templated=True)

        response = admin_client.post(
            LIST_URL, {"action": "run_groups", "_selected_action": [definition.pk]}
        )

        assert response.status_code == HTTPStatus.FOUND
        assert response["Location"] == reverse("run-group", args=["admin.weekly"])
        assert not GroupRun.objects.exists()

    def test_run_action_needs_the_run_permission(self, editor_client):
        definition = stored()

        html = editor_client.get(LIST_URL).content.decode()
        editor_client.post(
            LIST_URL, {"action": "run_groups", "_selected_action": [definition.pk]}
        )

        assert 'value="run_groups"' not in html
        assert 'value="deactivate_groups"' in html
        assert not GroupRun.objects.exists()


class TestYamlStorageMode:
    def test_definitions_are_read_only_and_the_page_says_why(
        self, admin_client, settings
    ):
        definition = stored()
        settings.SPINE_GROUP_STORAGE = "yaml"
        settings.SPINE_GROUPS_PATH = settings.BASE_DIR / "tests" / "no-groups-here"

        add = admin_client.get(ADD_URL)
        change = admin_client.get(change_url(definition)).content.decode()
        post = admin_client.post(
            change_url(definition), {"yaml": as_yaml(document(steps=3))}
        )

        definition.refresh_from_db()
        assert add.status_code == HTTPStatus.FORBIDDEN
        assert '<textarea name="yaml"' not in change
        assert "SPINE_GROUP_STORAGE is &#x27;yaml&#x27;" in change
        assert "name: admin.weekly" in change
        assert post.status_code == HTTPStatus.FORBIDDEN
        assert definition.version == 1


class TestRunAdmin:
    def test_run_shows_its_steps_inline(self, admin_client, make_run):
        run = make_run(status=RunStatus.FAILED, ingest="completed", normalize="failed")

        html = admin_client.get(
            reverse("admin:pipeline_groups_grouprun_change", args=[run.pk])
        ).content.decode()

        assert "finra.otc_transparency.normalize_week" in html
        assert "✗ Failed" in html
        assert "ValueError: week_ending 2026-01-04 is not a Friday" in html
        assert reverse("run-detail", args=[run.pk]) in html

    def test_inline_steps_are_read_only(self, admin_client, make_run):
        run = make_run(status=RunStatus.FAILED, ingest="completed", normalize="failed")

        html = admin_client.get(
            reverse("admin:pipeline_groups_grouprun_change", args=[run.pk])
        ).content.decode()

        inline = html.split('id="step_executions-group"')[1]
        assert inline.count('<td class="field-step_name">') == 2
        assert not re.search(EDITABLE + r'name="step_executions-0-', html)
        assert 'name="status"' not in html
        assert 'name="step_executions-MAX_NUM_FORMS" value="0"' in inline

    def test_runs_filter_by_status_and_group(self, admin_client, make_run):
        failed = make_run(status=RunStatus.FAILED, ingest="failed")
        done = make_run(status=RunStatus.COMPLETED, ingest="completed")

        by_status = admin_client.get(RUNS_URL, {"status__exact": "failed"})
        by_group = admin_client.get(RUNS_URL, {"group_name": done.group_name})

        assert failed.pk in by_status.content.decode()
        assert done.pk not in by_status.content.decode()
        assert done.pk in by_group.content.decode()
        assert failed.pk not in by_group.content.decode()

    def test_cancel_and_retry_actions(self, admin_client, make_run):
        active = make_run(status=RunStatus.RUNNING, ingest="running")
        failed = make_run(
            status=RunStatus.FAILED, ingest="completed", normalize="failed"
        )

        admin_client.post(
            RUNS_URL, {"action": "cancel_runs", "_selected_action": [active.pk]}
        )
        admin_client.post(
            RUNS_URL, {"action": "retry_runs", "_selected_action": [failed.pk]}
        )

        active.refresh_from_db()
        failed.refresh_from_db()
        assert active.cancel_requested_at is not None
        assert failed.status in {RunStatus.PENDING, RunStatus.RUNNING}

    def test_run_actions_need_the_run_permission(self, editor_client, make_run):
        make_run(status=RunStatus.RUNNING, ingest="running")

        html = editor_client.get(RUNS_URL).content.decode()

        assert 'value="cancel_runs"' not in html
        assert 'value="retry_runs"' not in html


class TestExecutionAdmin:
    def test_execution_shows_its_events_in_order_read_only(self, admin_client):
        execution = ExecutionFactory(pipeline_name="pages_test.admin_step", failed=True)
        for kind, message in [
            (EventKind.QUEUED, "queued by run 01"),
            (EventKind.STARTED, "worker w1"),
            (EventKind.FAILED, "ValueError: bad week"),
        ]:
            ExecutionEventFactory(execution=execution, kind=kind, message=message)
        url = reverse("admin:pipeline_groups_execution_change", args=[execution.pk])

        html = admin_client.get(url).content.decode()
        post = admin_client.post(url, {"status": "completed"})

        execution.refresh_from_db()
        positions = [
            html.index(text)
            for text in ("queued by run 01", "worker w1", "ValueError: bad week")
        ]
        assert positions == sorted(positions)
        assert not re.search(EDITABLE + r'name="(status|events-)', html)
        assert post.status_code == HTTPStatus.FORBIDDEN
        assert execution.status == "failed"

    def test_executions_cannot_be_added_by_hand(self, admin_client):
        response = admin_client.get(reverse("admin:pipeline_groups_execution_add"))

        assert response.status_code == HTTPStatus.FORBIDDEN


class TestDeadLetterReplay:
    def test_list_offers_the_replay_action(self, admin_client):
        letter = DeadLetterFactory(execution__pipeline_name="pages_test.admin_step")

        html = admin_client.get(
            reverse("admin:pipeline_groups_deadletter_changelist")
        ).content.decode()

        assert 'value="replay_dead_letters"' in html
        assert letter.pk in html

    def test_replay_action_runs_a_lone_execution_again(self, admin_client):
        letter = DeadLetterFactory(
            execution__pipeline_name="pages_test.admin_step",
            execution__params={"week_ending": "2026-01-02"},
        )

        admin_client.post(
            reverse("admin:pipeline_groups_deadletter_changelist"),
            {"action": "replay_dead_letters", "_selected_action": [letter.pk]},
        )

        letter.refresh_from_db()
        assert letter.replayed_at is not None
        assert letter.replay_execution_id is not None


class TestAdminQueryCounts:
    """Admin pages cost the same number of queries with 3 or 30 rows."""

    def _runs(self, make_run, count: int) -> list[GroupRun]:
        return [
            make_run(status=RunStatus.FAILED, ingest="completed", normalize="failed")
            for _ in range(count)
        ]

    @pytest.mark.parametrize(
        "url",
        [
            RUNS_URL,
            LIST_URL,
            reverse("admin:pipeline_groups_execution_changelist"),
            reverse("admin:pipeline_groups_deadletter_changelist"),
        ],
    )
    def test_changelists_do_not_grow_with_rows(
        self, admin_client, make_run, django_assert_max_num_queries, url
    ):
        self._runs(make_run, 3)
        DeadLetterFactory.create_batch(3)
        with django_assert_max_num_queries(30) as few:
            admin_client.get(url)
        self._runs(make_run, 27)
        DeadLetterFactory.create_batch(27)

        with django_assert_max_num_queries(len(few.captured_queries)):
            response = admin_client.get(url)

        assert response.status_code == HTTPStatus.OK

    def test_run_page_does_not_grow_with_steps(
        self, admin_client, make_run, django_assert_max_num_queries
    ):
        one = make_run(status=RunStatus.RUNNING, ingest="running")
        two = make_run(status=RunStatus.FAILED, ingest="completed", normalize="failed")
        with django_assert_max_num_queries(30) as few:
            admin_client.get(
                reverse("admin:pipeline_groups_grouprun_change", args=[one.pk])
            )

        with django_assert_max_num_queries(len(few.captured_queries)):
            admin_client.get(
                reverse("admin:pipeline_groups_grouprun_change", args=[two.pk])
            )

    def test_execution_page_does_not_grow_with_events(
        self, admin_client, django_assert_max_num_queries
    ):
        few_events = ExecutionFactory(failed=True)
        many_events = ExecutionFactory(failed=True)
        ExecutionEventFactory.create_batch(2, execution=few_events)
        ExecutionEventFactory.create_batch(40, execution=many_events)
        url = "admin:pipeline_groups_execution_change"
        with django_assert_max_num_queries(30) as few:
            admin_client.get(reverse(url, args=[few_events.pk]))

        with django_assert_max_num_queries(len(few.captured_queries)):
            admin_client.get(reverse(url, args=[many_events.pk]))
