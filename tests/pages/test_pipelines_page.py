"""The Pipelines view (`/`): group rows, nested steps, filters and polling."""

from __future__ import annotations

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.urls import URLPattern, reverse
from django.utils import timezone

from pipeline_groups import register_pipeline
from pipeline_groups.models import ExecutionStatus, RunStatus
from pipeline_groups.urls import urlpatterns
from pipeline_groups.views import format_ago
from tests.factories import ExecutionFactory, GroupDefinitionFactory, UserFactory

pytestmark = pytest.mark.django_db


@register_pipeline("pages_test.lonely_sync")
def lonely_sync(ctx: object) -> dict:
    """Do nothing; no group uses it, so `/` lists it below the groups."""
    return {}


def _page_routes() -> list[str]:
    """Return a path for every route of the pages, with made-up arguments."""
    arguments = {"name": "finra.weekly_refresh", "run_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}
    paths = []
    for pattern in urlpatterns:
        if isinstance(pattern, URLPattern):
            names = pattern.pattern.converters
            paths.append(reverse(pattern.name, kwargs={k: arguments[k] for k in names}))
    return paths


def _step_row(block: str, step: str) -> str:
    """Return the row of one step inside a group's block."""
    return block.split(f'data-step="{step}"')[1].split("</tr>")[0]


def _group_block(html: str, name: str) -> str:
    """Return the <tbody> of one group in the page."""
    match = re.search(
        r'<tbody[^>]*data-group-name="' + re.escape(name) + r'".*?</tbody>',
        html,
        re.DOTALL,
    )
    assert match, f"no row for group {name}"
    return match.group(0)


class TestLoginRequired:
    @pytest.mark.parametrize("path", _page_routes())
    def test_anonymous_reader_is_sent_to_login(self, client, path):
        posted_only = path.endswith(("/cancel/", "/retry/"))
        response = client.post(path) if posted_only else client.get(path)

        assert response.status_code == HTTPStatus.FOUND
        assert response["Location"].startswith(reverse("login"))

    @pytest.mark.parametrize(
        "path", ["/rows/", "/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV/live/"]
    )
    def test_poll_after_the_session_ended_sends_the_page_to_login(self, client, path):
        response = client.get(
            path, headers={"HX-Request": "true", "HX-Current-URL": "http://t/x/?a=1"}
        )

        assert response.status_code == HTTPStatus.OK
        assert response["HX-Redirect"] == reverse("login") + "?next=/x/%3Fa%3D1"
        assert response.content == b""

    def test_admin_sends_anonymous_readers_to_its_login(self, client):
        response = client.get("/admin/pipeline_groups/grouprun/")

        assert response.status_code == HTTPStatus.FOUND
        assert response["Location"].startswith("/admin/login/")

    def test_login_page_logs_in_and_returns_to_pipelines(self, client, viewer):
        page = client.get(reverse("login"))
        response = client.post(
            reverse("login"),
            {"username": "viewer", "password": "test-password-1234"},
        )

        assert page.status_code == HTTPStatus.OK
        assert b'name="password"' in page.content
        assert response.status_code == HTTPStatus.FOUND
        assert response["Location"] == "/"


class TestGroupRows:
    def test_latest_run_badge_has_word_symbol_and_duration(
        self, viewer_client, make_run
    ):
        group = GroupDefinitionFactory(name="finra.weekly_refresh")
        make_run(group, RunStatus.FAILED, created_ago=600, ingest="failed")
        make_run(group, RunStatus.COMPLETED, ingest="completed", normalize="completed")

        html = viewer_client.get("/").content.decode()

        block = _group_block(html, "finra.weekly_refresh")
        row = block.split("</tr>")[0]
        assert 'data-status="completed"' in row
        assert "✓</span> Completed" in row
        assert "54s" in row

    def test_steps_nested_in_first_html_with_pipeline_names(
        self, viewer_client, make_run
    ):
        group = GroupDefinitionFactory(name="finra.weekly_refresh")
        make_run(group, RunStatus.RUNNING, ingest="completed", normalize="running")

        html = viewer_client.get("/").content.decode()

        block = _group_block(html, "finra.weekly_refresh")
        assert 'data-step="ingest"' in block
        assert "finra.otc_transparency.ingest_week" in block
        assert 'data-step="normalize"' in block
        assert "finra.otc_transparency.normalize_week" in block
        assert 'aria-expanded="false"' in block

    def test_steps_show_their_own_status_and_duration(self, viewer_client, make_run):
        group = GroupDefinitionFactory(name="finra.weekly_refresh")
        make_run(group, RunStatus.FAILED, ingest="completed", normalize="failed")

        block = _group_block(viewer_client.get("/").content.decode(), group.name)

        ingest = _step_row(block, "ingest")
        normalize = _step_row(block, "normalize")
        assert 'data-status="completed"' in ingest
        assert "✓</span> Completed" in ingest
        assert '<td class="num">12s</td>' in ingest
        assert 'data-status="failed"' in normalize
        assert "✗</span> Failed" in normalize
        assert '<td class="num">42s</td>' in normalize

    def test_waiting_step_shows_the_engine_reason(self, viewer_client, make_run):
        group = GroupDefinitionFactory(name="finra.weekly_refresh")
        make_run(group, RunStatus.RUNNING, ingest="running")

        block = _group_block(viewer_client.get("/").content.decode(), group.name)

        normalize = _step_row(block, "normalize")
        assert 'data-status="pending"' in normalize
        assert '<span class="reason">waiting for ingest' in normalize

    def test_latest_run_says_how_long_ago_it_started(self, viewer_client, make_run):
        fresh = GroupDefinitionFactory(name="a.fresh")
        older = GroupDefinitionFactory(name="b.older")
        make_run(fresh, RunStatus.COMPLETED, created_ago=5)
        make_run(older, RunStatus.COMPLETED, created_ago=600)

        html = viewer_client.get("/").content.decode()

        assert "v1 · just now" in _group_block(html, "a.fresh")
        assert "v1 · 10\xa0minutes ago" in _group_block(html, "b.older")

    def test_failed_run_shows_failing_step_and_first_error_line(
        self, viewer_client, make_run
    ):
        group = GroupDefinitionFactory(name="finra.weekly_refresh")
        make_run(group, RunStatus.FAILED, ingest="completed", normalize="failed")

        html = viewer_client.get("/").content.decode()

        row = _group_block(html, "finra.weekly_refresh").split("</tr>")[0]
        assert "<strong>normalize</strong> failed:" in row
        assert "ValueError: week_ending 2026-01-04 is not a Friday" in row
        assert "more" not in row

    def test_group_never_run_lists_its_declared_steps(self, viewer_client):
        GroupDefinitionFactory(name="market_data.daily_ingest")

        html = viewer_client.get("/").content.decode()

        block = _group_block(html, "market_data.daily_ingest")
        assert "Never run" in block
        assert 'data-step="ingest"' in block
        assert 'data-step="normalize"' in block

    def test_group_with_hundreds_of_runs_shows_its_latest(
        self, viewer_client, make_run
    ):
        group = GroupDefinitionFactory(name="finra.weekly_refresh")
        for minutes in range(200, 0, -1):
            make_run(group, RunStatus.FAILED, created_ago=minutes * 60 + 60)
        latest = make_run(group, RunStatus.RUNNING, created_ago=5, ingest="running")

        html = viewer_client.get("/").content.decode()

        row = _group_block(html, "finra.weekly_refresh").split("</tr>")[0]
        assert reverse("run-detail", args=[latest.pk]) in row
        assert 'data-status="running"' in row

    def test_expansion_cookie_opens_the_named_group(self, viewer_client):
        opened = GroupDefinitionFactory(name="a.opened")
        GroupDefinitionFactory(name="b.closed")
        viewer_client.cookies["spine_rows"] = f"none~{opened.pk}"

        html = viewer_client.get("/").content.decode()

        assert 'aria-expanded="true"' in _group_block(html, "a.opened")
        assert "hidden>" not in _group_block(html, "a.opened")
        assert "hidden>" in _group_block(html, "b.closed")
        assert 'aria-expanded="false"' in _group_block(html, "b.closed")

    def test_run_button_needs_the_run_permission(self, client, viewer, operator):
        GroupDefinitionFactory(name="finra.weekly_refresh")
        url = reverse("run-group", args=["finra.weekly_refresh"])

        client.force_login(viewer)
        as_viewer = client.get("/").content.decode()
        client.force_login(operator)
        as_operator = client.get("/").content.decode()

        assert url not in as_viewer
        assert url in as_operator


class TestLonePipelines:
    def test_pipeline_of_no_group_shows_its_last_execution(self, viewer_client):
        ExecutionFactory(pipeline_name="pages_test.lonely_sync", failed=True)
        ExecutionFactory(pipeline_name="pages_test.lonely_sync", completed=True)

        html = viewer_client.get("/").content.decode()

        row = re.search(
            r'<tr class="pipeline-row" data-pipeline="pages_test.lonely_sync">'
            r".*?</tr>",
            html,
            re.DOTALL,
        ).group(0)
        assert 'data-status="completed"' in row

    def test_lone_pipelines_are_listed_below_the_groups(self, viewer_client):
        GroupDefinitionFactory(name="finra.weekly_refresh")

        html = viewer_client.get("/").content.decode()

        assert html.index('data-group-name="finra.weekly_refresh"') < html.index(
            "Pipelines in no group"
        )
        assert html.index("Pipelines in no group") < html.index(
            'data-pipeline="pages_test.lonely_sync"'
        )

    def test_pipeline_used_by_a_group_is_not_listed_alone(self, viewer_client):
        GroupDefinitionFactory(name="finra.weekly_refresh")

        html = viewer_client.get("/").content.decode()

        assert 'data-pipeline="finra.otc_transparency.ingest_week"' not in html
        assert 'data-pipeline="pages_test.lonely_sync"' in html


class TestFilters:
    def test_domain_filter_keeps_only_that_domain(self, viewer_client):
        GroupDefinitionFactory(name="finra.weekly_refresh", domain="finra")
        GroupDefinitionFactory(name="market_data.daily", domain="market_data")

        html = viewer_client.get("/", {"domain": "market_data"}).content.decode()

        assert 'data-group-name="market_data.daily"' in html
        assert 'data-group-name="finra.weekly_refresh"' not in html

    def test_status_filter_matches_the_latest_run(self, viewer_client, make_run):
        failed = GroupDefinitionFactory(name="a.failed")
        recovered = GroupDefinitionFactory(name="b.recovered")
        make_run(failed, RunStatus.FAILED, ingest="failed")
        make_run(recovered, RunStatus.FAILED, created_ago=900, ingest="failed")
        make_run(recovered, RunStatus.COMPLETED, ingest="completed")

        html = viewer_client.get("/", {"status": "failed"}).content.decode()

        assert 'data-group-name="a.failed"' in html
        assert 'data-group-name="b.recovered"' not in html

    def test_never_run_filter(self, viewer_client, make_run):
        make_run(GroupDefinitionFactory(name="a.ran"), RunStatus.COMPLETED)
        GroupDefinitionFactory(name="b.idle")

        html = viewer_client.get("/", {"status": "never"}).content.decode()

        assert 'data-group-name="b.idle"' in html
        assert 'data-group-name="a.ran"' not in html

    def test_inactive_groups_hidden_unless_asked_for(self, viewer_client):
        GroupDefinitionFactory(name="old.group", is_active=False)

        default = viewer_client.get("/").content.decode()
        asked = viewer_client.get("/", {"inactive": "on"}).content.decode()

        assert 'data-group-name="old.group"' not in default
        assert 'data-group-name="old.group"' in asked


class TestPolling:
    def test_active_run_makes_rows_poll_every_two_seconds(
        self, viewer_client, make_run
    ):
        make_run(status=RunStatus.RUNNING, ingest="running")

        html = viewer_client.get("/", {"domain": "finra.otc_transparency"})

        region = re.search(r'<div id="pipeline-rows"[^>]*>', html.content.decode())
        assert 'data-polling="on"' in region.group(0)
        assert 'hx-trigger="every 2s [document.visibilityState' in region.group(0)
        assert "/rows/?domain=finra.otc_transparency" in region.group(0)

    def test_idle_page_does_not_poll(self, viewer_client, make_run):
        make_run(status=RunStatus.COMPLETED, ingest="completed", normalize="completed")

        html = viewer_client.get("/").content.decode()

        region = re.search(r'<div id="pipeline-rows"[^>]*>', html).group(0)
        assert 'data-polling="off"' in region
        assert "hx-trigger" not in region

    def test_rows_stop_polling_once_the_run_ended(self, viewer_client, make_run):
        run = make_run(status=RunStatus.RUNNING, ingest="running")
        before = viewer_client.get("/rows/").content.decode()
        run.status = RunStatus.COMPLETED
        run.save()
        execution = run.step_executions.get().execution
        execution.status = ExecutionStatus.COMPLETED
        execution.completed_at = execution.started_at
        execution.save()

        after = viewer_client.get("/rows/").content.decode()

        assert before.startswith('<div id="pipeline-rows"')
        assert 'data-polling="on"' in before
        assert 'data-polling="off"' in after
        assert 'data-status="completed"' in after
        assert "<html" not in after

    def test_htmx_is_served_by_the_app(self, viewer_client):
        html = viewer_client.get("/").content.decode()

        scripts = re.findall(r'<script src="([^"]+)"', html)
        assert "/static/django_htmx/htmx-2.min.js" in scripts
        assert all(src.startswith("/static/") for src in scripts)
        assert viewer_client.get("/static/django_htmx/htmx-2.min.js").status_code == (
            HTTPStatus.OK
        )


class TestStaticFiles:
    @pytest.mark.parametrize(
        "path", ["/", "/runs/{run}/", "/groups/finra.weekly_refresh/run/", "/admin/"]
    )
    def test_every_stylesheet_and_script_comes_from_the_app(
        self, client, make_run, path
    ):
        group = GroupDefinitionFactory(name="finra.weekly_refresh")
        run = make_run(group, RunStatus.COMPLETED, ingest="completed")
        client.force_login(UserFactory(is_staff=True, is_superuser=True))

        page = client.get(path.format(run=run.pk))

        html = page.content.decode()
        assert page.status_code == HTTPStatus.OK

        assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
        files = [asset for asset in assets if not asset.startswith("data:")]
        assert files
        assert all(asset.startswith("/static/") for asset in files), files
        for asset in files:
            response = client.get(asset)
            assert response.status_code == HTTPStatus.OK, asset
            b"".join(response.streaming_content)

    def test_app_assets_are_served_by_whitenoise_with_debug_off(self, client, settings):
        settings.DEBUG = False

        responses = {
            name: client.get(f"/static/pipeline_groups/{name}")
            for name in ("pages.css", "pages.js", "admin.css")
        }

        assert {name: r.status_code for name, r in responses.items()} == {
            "pages.css": HTTPStatus.OK,
            "pages.js": HTTPStatus.OK,
            "admin.css": HTTPStatus.OK,
        }
        assert responses["pages.css"]["Content-Type"].startswith("text/css")
        assert "javascript" in responses["pages.js"]["Content-Type"]


class TestFormatAgo:
    @pytest.mark.parametrize(
        ("seconds", "text"),
        [
            (0, "just now"),
            (59, "just now"),
            (60, "1\xa0minute ago"),
            (3 * 3600 + 600, "3\xa0hours ago"),
            (2 * 86400, "2\xa0days ago"),
        ],
    )
    def test_says_how_long_ago_in_one_unit(self, seconds, text):
        now = timezone.now()

        assert format_ago(now - timedelta(seconds=seconds), now) == text

    def test_nothing_for_no_moment(self):
        assert format_ago(None) == ""


class TestQueryCount:
    def _fill(self, make_run, start: int, groups: int) -> None:
        for index in range(start, start + groups):
            group = GroupDefinitionFactory(name=f"domain.group_{index:03d}")
            make_run(group, RunStatus.FAILED, created_ago=300, ingest="failed")
            make_run(group, RunStatus.RUNNING, ingest="completed", normalize="running")
            ExecutionFactory(pipeline_name="pages_test.lonely_sync", completed=True)

    @pytest.mark.parametrize("path", ["/", "/rows/"])
    def test_queries_do_not_grow_with_groups_and_runs(
        self, viewer_client, make_run, django_assert_max_num_queries, path
    ):
        self._fill(make_run, 0, 3)
        with django_assert_max_num_queries(20) as few:
            small = viewer_client.get(path)
        self._fill(make_run, 3, 30)

        with django_assert_max_num_queries(len(few.captured_queries)):
            large = viewer_client.get(path)

        rows = [
            page.content.decode().count('class="group-row"') for page in (small, large)
        ]
        assert rows[1] - rows[0] == 30
