"""The run page (`/runs/<id>/`): facts, time axis, DAG, errors, cancel and retry."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse

from pipeline_groups.dag import DagNode, build_graph, render_svg
from pipeline_groups.models import GroupRun, RunStatus, StepStatus
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


def _page(client: Client, run: GroupRun) -> str:
    response = client.get(reverse("run-detail", args=[run.pk]))
    assert response.status_code == HTTPStatus.OK
    return response.content.decode()


class TestRunFacts:
    def test_page_shows_group_version_status_trigger_batch_and_params(
        self, viewer_client, make_run
    ):
        run = make_run(status=RunStatus.COMPLETED, ingest="completed")

        html = _page(viewer_client, run)

        assert run.group_name in html
        assert f"version {run.group_version}" in html
        assert 'data-status="completed"' in html
        assert "Command line" in html
        assert run.batch_id in html
        assert "&quot;week_ending&quot;: &quot;2026-01-03&quot;" in html
        assert run.created_at.strftime("%Y-%m-%d %H:%M:%S") in html

    def test_unknown_run_is_not_found(self, viewer_client):
        response = viewer_client.get(reverse("run-detail", args=["nope"]))

        assert response.status_code == HTTPStatus.NOT_FOUND


class TestStepsAndTimeAxis:
    def test_bars_share_one_axis_from_first_start_to_last_end(
        self, viewer_client, make_run
    ):
        run = make_run(
            status=RunStatus.COMPLETED, ingest="completed", normalize="completed"
        )

        html = _page(viewer_client, run)

        bars = re.findall(r"margin-left: ([\d.]+)%; width: ([\d.]+)%", html)
        assert [(float(a), float(b)) for a, b in bars] == [
            (0.0, pytest.approx(22.22, abs=0.01)),
            (pytest.approx(22.22, abs=0.01), pytest.approx(77.78, abs=0.01)),
        ]
        assert "54s" in html

    def test_waiting_step_shows_the_engine_reason(self, viewer_client, make_run):
        run = make_run(status=RunStatus.RUNNING, ingest="running")

        html = _page(viewer_client, run)

        row = html.split('data-step="normalize"')[1].split("</tr>")[0]
        assert "waiting for ingest" in row

    def test_error_and_traceback_expand(self, viewer_client, make_run):
        run = make_run(status=RunStatus.FAILED, ingest="completed", normalize="failed")

        html = _page(viewer_client, run)

        pattern = r'<details id="error-normalize-1">.*?</details>'
        details = re.search(pattern, html, re.S)
        assert details
        assert "ValueError: week_ending 2026-01-04 is not a Friday" in details.group(0)
        assert "Traceback (most recent call last)" in details.group(0)


@pytest.mark.usefixtures("graphviz_dot")
class TestDag:
    def test_page_draws_every_step_as_an_svg_node(self, viewer_client, make_run):
        run = make_run(status=RunStatus.FAILED, ingest="completed", normalize="failed")

        html = _page(viewer_client, run)

        svg = re.search(r"<svg class=\"dag\".*?</svg>", html, re.S).group(0)
        assert 'id="dag&#45;step&#45;ingest"' in svg
        assert 'class="node dag&#45;step status&#45;completed"' in svg
        assert 'id="dag&#45;step&#45;normalize"' in svg
        assert "status&#45;failed" in svg
        assert svg.count('class="edge"') == 1

    def test_graph_has_a_node_per_step_and_an_edge_per_dependency(self):
        """Draw a diamond: extract -> left, right -> join.

        extract --> left  --> join
        extract --> right --> join
        """
        nodes = [
            DagNode("extract", "p.extract", StepStatus.COMPLETED),
            DagNode("left", "p.left", StepStatus.RUNNING, ["extract"]),
            DagNode("right", "p.right", StepStatus.FAILED, ["extract"]),
            DagNode("join", "p.join", "", ["left", "right"]),
        ]

        source = build_graph(nodes).source
        svg = render_svg(nodes)

        assert source.count("->") == 4
        assert svg.count('class="node') == 4
        assert "✓ extract" in svg
        assert "✗ right" in svg
        assert "Failed" in svg

    def test_step_names_with_colons_are_not_read_as_ports(self):
        nodes = [DagNode("a:b", "p.x", StepStatus.PENDING), DagNode("c", "p.y")]
        nodes[1] = DagNode("c", "p.y", "", ["a:b"])

        svg = render_svg(nodes)

        assert svg.count('class="node') == 2
        assert svg.count('class="edge"') == 1


class TestCancelAndRetry:
    def test_buttons_hidden_without_the_permission(self, viewer_client, make_run):
        active = make_run(status=RunStatus.RUNNING, ingest="running")
        failed = make_run(status=RunStatus.FAILED, ingest="failed")

        assert 'data-action="cancel"' not in _page(viewer_client, active)
        assert 'data-action="retry"' not in _page(viewer_client, failed)

    def test_cancel_shown_while_active_retry_once_failed(
        self, operator_client, make_run
    ):
        active = make_run(status=RunStatus.RUNNING, ingest="running")
        failed = make_run(status=RunStatus.FAILED, ingest="failed")
        done = make_run(status=RunStatus.COMPLETED, ingest="completed")

        active_html = _page(operator_client, active)
        failed_html = _page(operator_client, failed)
        done_html = _page(operator_client, done)

        assert 'data-action="cancel"' in active_html
        assert 'data-action="retry"' not in active_html
        assert 'data-action="retry"' in failed_html
        assert 'data-action="cancel"' not in failed_html
        assert "data-action" not in done_html

    @pytest.mark.parametrize(
        ("route", "status"),
        [("run-cancel", RunStatus.RUNNING), ("run-retry", RunStatus.FAILED)],
    )
    def test_buttons_need_the_permission(self, viewer_client, make_run, route, status):
        run = make_run(status=status, ingest="running")

        response = viewer_client.post(reverse(route, args=[run.pk]))

        run.refresh_from_db()
        assert response.status_code == HTTPStatus.FORBIDDEN
        assert run.cancel_requested_at is None
        assert run.status == status
        assert run.step_executions.count() == 1

    @pytest.mark.parametrize(
        ("route", "status"),
        [("run-cancel", RunStatus.RUNNING), ("run-retry", RunStatus.FAILED)],
    )
    def test_buttons_need_the_csrf_token(self, operator, make_run, route, status):
        run = make_run(status=status, ingest="failed")
        client = Client(enforce_csrf_checks=True)
        client.login(username=operator.username, password=DEFAULT_PASSWORD)

        response = client.post(reverse(route, args=[run.pk]))

        run.refresh_from_db()
        assert response.status_code == HTTPStatus.FORBIDDEN
        assert run.cancel_requested_at is None
        assert run.status == status
        assert run.step_executions.count() == 1

    def test_buttons_are_posted_forms_with_the_token(self, operator_client, make_run):
        active = make_run(status=RunStatus.RUNNING, ingest="running")
        failed = make_run(status=RunStatus.FAILED, ingest="failed")

        forms = {
            route: re.search(
                rf'<form method="post" action="{reverse(route, args=[run.pk])}">'
                r"(.*?)</form>",
                _page(operator_client, run),
                re.S,
            )
            for route, run in (("run-cancel", active), ("run-retry", failed))
        }

        assert all(forms.values())
        assert all('name="csrfmiddlewaretoken"' in f.group(1) for f in forms.values())

    def test_cancel_with_the_form_token_asks_the_engine(self, operator, make_run):
        run = make_run(status=RunStatus.RUNNING, ingest="running")
        client = Client(enforce_csrf_checks=True)
        client.login(username=operator.username, password=DEFAULT_PASSWORD)
        html = _page(client, run)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)

        response = client.post(
            reverse("run-cancel", args=[run.pk]),
            {"csrfmiddlewaretoken": token.group(1)},
        )

        run.refresh_from_db()
        assert response.status_code == HTTPStatus.FOUND
        assert run.cancel_requested_at is not None

    def test_cancelling_a_finished_run_says_so(self, operator_client, make_run):
        run = make_run(status=RunStatus.COMPLETED, ingest="completed")

        response = operator_client.post(
            reverse("run-cancel", args=[run.pk]), follow=True
        )

        assert "finished" in response.content.decode()

    def test_retry_reopens_a_failed_run(self, operator_client, make_run):
        run = make_run(status=RunStatus.FAILED, ingest="completed", normalize="failed")

        operator_client.post(reverse("run-retry", args=[run.pk]))

        run.refresh_from_db()
        assert run.status in {RunStatus.PENDING, RunStatus.RUNNING}
        assert run.step_executions.filter(step_name="normalize").count() == 2


class TestRunPageQueries:
    def test_queries_do_not_grow_with_attempts(
        self, viewer_client, make_run, django_assert_max_num_queries
    ):
        small = make_run(status=RunStatus.FAILED, ingest="failed")
        with django_assert_max_num_queries(20) as few:
            _page(viewer_client, small)
        big = make_run(status=RunStatus.FAILED, ingest="completed", normalize="failed")

        with django_assert_max_num_queries(len(few.captured_queries)):
            _page(viewer_client, big)

    def test_live_region_is_a_fragment_that_stops_when_finished(
        self, viewer_client, make_run
    ):
        run = make_run(status=RunStatus.COMPLETED, ingest="completed")

        html = viewer_client.get(reverse("run-live", args=[run.pk])).content.decode()

        assert html.startswith('<div id="run-live"')
        assert 'data-polling="off"' in html
