"""The pages in a real browser: Debian's chromium driven by pytest-playwright.

Runs started from the page go to django-q2 like any UI run. No qcluster runs
here: the test drives the run itself with the engine's inline runner in a
thread (`engine.run_inline`), the same state machine a worker uses, so the
browser watches real transitions arrive through polling. Each test saves a
screenshot under test-artifacts/pages/.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection

from pipeline_groups import engine, register_pipeline
from pipeline_groups.models import (
    Backend,
    GroupDefinition,
    GroupRun,
    RunStatus,
    TriggerSource,
)
from pipeline_groups.storage import save_group
from pipeline_groups.yaml_spec import load_group_yaml
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "pages"
GROUP = "pages.browser_demo"
TIMEOUT_MS = 20_000
# Headless chromium never hides its tab; the page reads visibilityState, so the
# tests override it and send the event a real tab switch sends.
TAB_STATE = """state => {
  Object.defineProperty(document, "visibilityState", {
    value: state, configurable: true
  });
  document.dispatchEvent(new Event("visibilitychange"));
}"""
BADGE = f'tbody[data-group-name="{GROUP}"] tr.group-row'

GROUP_YAML = f"""
apiVersion: spine.io/v1
kind: PipelineGroup
metadata:
  name: {GROUP}
  domain: pages
  description: Two slow steps for the browser tests.
spec:
  defaults:
    seconds: "{{{{ params.seconds }}}}"
    label: "{{{{ params.label }}}}"
  pipelines:
    - name: prepare
      pipeline: pages_test.slow_step
    - name: crunch
      pipeline: pages_test.slow_step
      depends_on: [prepare]
    - name: publish
      pipeline: pages_test.slow_step
      depends_on: [crunch]
  policy:
    execution: sequential
"""


@register_pipeline("pages_test.slow_step")
def slow_step(ctx: Any, seconds: float = 0.5, label: str = "") -> dict[str, Any]:
    """Wait `seconds`, stopping early when the run is cancelled."""
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        if ctx.cancel_requested:
            return {"label": label, "stopped": True}
        time.sleep(0.05)
    return {"label": label, "stopped": False}


@register_pipeline("pages_test.failing_step")
def failing_step(ctx: Any, **params: Any) -> None:
    """Fail the way a bad input file fails."""
    raise ValueError("week_ending 2026-01-04 is not a Friday\nsecond line")


@pytest.fixture(scope="session")
def browser_type_launch_args(chromium_path: str) -> dict[str, Any]:
    """Launch Debian's chromium, never a browser Playwright downloaded."""
    return {
        "executable_path": chromium_path,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args() -> dict[str, Any]:
    """Give every page a desktop-sized window."""
    return {"viewport": {"width": 1280, "height": 860}}


@pytest.fixture
def demo_group(transactional_db: None) -> str:
    """Store the three-step group through the same path as the admin and API."""
    save_group(load_group_yaml(GROUP_YAML), source="api", created_by="test")
    return GROUP


@pytest.fixture
def operator(transactional_db: None) -> Any:
    user = UserFactory(username="operator")
    user.user_permissions.add(Permission.objects.get(codename="run_group"))
    return user


@pytest.fixture
def drive() -> Iterator[Any]:
    """Drive runs to their end in background threads, joined at teardown."""
    threads: list[threading.Thread] = []

    def start(run_id: str) -> None:
        def target() -> None:
            try:
                engine.run_inline(GroupRun.objects.get(pk=run_id), max_workers=2)
            finally:
                connection.close()

        thread = threading.Thread(target=target, name=f"drive-{run_id}")
        thread.start()
        threads.append(thread)

    yield start
    for thread in threads:
        thread.join(timeout=60)


def _screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _next_poll(page: Any, region: str = "#pipeline-rows") -> None:
    """Wait until polling has replaced the live region once more."""
    page.evaluate(f"document.querySelector('{region}').dataset.stale = 'yes'")
    page.wait_for_selector(f"{region}:not([data-stale])", timeout=TIMEOUT_MS)


def _log_in(page: Any, base_url: str, path: str = "/") -> None:
    page.goto(base_url + path)
    assert "/accounts/login/" in page.url
    page.fill("input[name=username]", "operator")
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base_url + path)


class TestPipelinesPageInBrowser:
    def test_run_group_from_form_and_watch_it_complete(
        self, page, live_server, operator, demo_group, drive
    ):
        _log_in(page, live_server.url)
        row = page.locator(f'tbody[data-group-name="{GROUP}"]')
        steps = row.locator("tr.step-row")
        assert steps.first.is_hidden()

        row.locator("[data-toggle-group]").click()
        assert steps.count() == 3
        assert steps.nth(1).is_visible()
        assert "pages_test.slow_step" in steps.nth(1).inner_text()

        row.get_by_role("link", name="Run group").click()
        page.fill("input[name=seconds]", "")
        page.get_by_role("button", name="Start run").click()
        field_error = page.locator('[data-field="seconds"] .field-errors')
        assert "This field is required." in field_error.inner_text()
        _screenshot(page, "run_form_error")
        page.fill("input[name=seconds]", "1.2")
        page.fill("input[name=label]", "from the browser")
        page.get_by_role("button", name="Start run").click()
        page.wait_for_url(re.compile(r"/#group-"))
        run = GroupRun.objects.get(group_name=GROUP)
        assert run.trigger_source == TriggerSource.UI
        assert run.params == {"seconds": 1.2, "label": "from the browser"}
        assert page.locator("#pipeline-rows").get_attribute("data-polling") == "on"
        page.evaluate("window.spineNoReload = true")

        drive(run.pk)
        badge = row.locator("tr.group-row [data-status]")
        page.wait_for_selector(f'{BADGE} [data-status="running"]', timeout=TIMEOUT_MS)
        _screenshot(page, "pipelines_running")
        page.wait_for_selector(f'{BADGE} [data-status="completed"]', timeout=TIMEOUT_MS)

        assert page.evaluate("window.spineNoReload") is True
        assert "Completed" in badge.inner_text()
        assert steps.nth(2).is_visible()
        assert steps.locator('[data-status="completed"]').count() == 3
        page.wait_for_selector('#pipeline-rows[data-polling="off"]', timeout=5000)
        _screenshot(page, "pipelines_completed")

        row.locator("a.run-link").click()
        page.wait_for_url(f"{live_server.url}/runs/{run.pk}/")
        # The graph itself needs Graphviz: TestRunPageInBrowser draws it.
        step_rows = page.locator(".steps tr[data-step]")
        assert step_rows.count() == 3
        assert step_rows.locator('[data-status="completed"]').count() == 3
        assert "from the browser" in page.locator("pre.params").inner_text()

    def test_expanded_and_collapsed_rows_survive_polling(
        self, page, live_server, operator, demo_group
    ):
        run = engine.start_run(
            GROUP,
            {"seconds": 30, "label": "rows"},
            trigger_source=TriggerSource.UI,
            backend=Backend.DJANGO_Q,
        )
        _log_in(page, live_server.url)
        row = page.locator(f'tbody[data-group-name="{GROUP}"]')
        steps = row.locator("tr.step-row")
        toggle = row.locator("[data-toggle-group]")

        toggle.click()
        _next_poll(page)
        open_after_poll = steps.first.is_visible()
        expanded = toggle.get_attribute("aria-expanded")
        _screenshot(page, "pipelines_open_after_poll")
        toggle.click()
        _next_poll(page)
        engine.cancel_run(run.pk)

        assert open_after_poll and expanded == "true"
        assert steps.first.is_hidden()
        assert toggle.get_attribute("aria-expanded") == "false"

    def test_expand_all_and_collapse_all(self, page, live_server, operator, demo_group):
        _log_in(page, live_server.url)
        steps = page.locator("tr.step-row")

        page.get_by_role("button", name="Expand all").click()
        all_open = steps.first.is_visible()
        page.reload()
        still_open = steps.first.is_visible()
        page.get_by_role("button", name="Collapse all").click()

        assert all_open and still_open
        assert steps.first.is_hidden()
        _screenshot(page, "pipelines_collapsed")

    def test_polling_pauses_while_the_tab_is_hidden(
        self, page, live_server, operator, demo_group
    ):
        run = engine.start_run(
            GROUP,
            {"seconds": 30, "label": "hidden"},
            trigger_source=TriggerSource.UI,
            backend=Backend.DJANGO_Q,
        )
        polls: list[float] = []
        page.on(
            "request",
            lambda request: "/rows/" in request.url and polls.append(time.monotonic()),
        )
        _log_in(page, live_server.url)
        page.wait_for_timeout(4500)
        visible_polls = len(polls)

        page.evaluate(TAB_STATE, "hidden")
        page.wait_for_timeout(4500)
        hidden_polls = len(polls) - visible_polls
        page.evaluate(TAB_STATE, "visible")
        page.wait_for_timeout(2500)
        engine.cancel_run(run.pk)

        assert visible_polls >= 2
        assert hidden_polls <= 1
        assert len(polls) > visible_polls + hidden_polls
        _screenshot(page, "pipelines_polling_resumed")

    def test_failed_run_shows_failing_step_and_skipped_reason(
        self, page, live_server, operator, demo_group
    ):
        broken = load_group_yaml(
            GROUP_YAML.replace(
                "name: crunch\n      pipeline: pages_test.slow_step",
                "name: crunch\n      pipeline: pages_test.failing_step",
            )
        )
        save_group(broken, source="api")
        run = engine.start_run(
            GROUP,
            {"seconds": 0.1, "label": "broken"},
            trigger_source=TriggerSource.CLI,
            backend=Backend.INLINE,
        )
        engine.run_inline(run)

        _log_in(page, live_server.url)
        page.get_by_role("button", name="Expand all").click()
        row = page.locator(f'tbody[data-group-name="{GROUP}"]')

        summary = row.locator("tr.group-row .failure").inner_text()
        assert "crunch failed:" in summary
        assert "ValueError: week_ending 2026-01-04 is not a Friday" in summary
        assert "second line" not in summary
        assert "crunch" in row.locator('tr[data-step="publish"] .reason').inner_text()
        _screenshot(page, "pipelines_failed")


class TestRunPageInBrowser:
    @pytest.mark.usefixtures("graphviz_dot")
    def test_run_page_draws_the_dag_with_every_step(
        self, page, live_server, operator, demo_group
    ):
        run = engine.start_run(
            GROUP,
            {"seconds": 0.1, "label": "dag"},
            trigger_source=TriggerSource.CLI,
            backend=Backend.INLINE,
        )
        engine.run_inline(run)

        _log_in(page, live_server.url, f"/runs/{run.pk}/")

        nodes = page.locator("#run-dag svg.dag g.node")
        assert nodes.count() == 3
        ids = {nodes.nth(index).get_attribute("id") for index in range(3)}
        assert ids == {"dag-step-prepare", "dag-step-crunch", "dag-step-publish"}
        assert page.locator("#run-dag g.status-completed").count() == 3
        assert page.locator("#run-dag g.edge").count() == 2
        assert page.locator(".steps .bar").count() == 3
        _screenshot(page, "run_page_dag")

    def test_cancel_a_slow_run(self, page, live_server, operator, demo_group, drive):
        run = engine.start_run(
            GROUP,
            {"seconds": 30, "label": "slow"},
            trigger_source=TriggerSource.UI,
            backend=Backend.DJANGO_Q,
        )
        drive(run.pk)
        _log_in(page, live_server.url, f"/runs/{run.pk}/")
        page.wait_for_selector(
            '#run-status [data-status="running"]', timeout=TIMEOUT_MS
        )

        page.click('button[data-action="cancel"]')
        page.wait_for_selector(
            '#run-status [data-status="cancelled"]', timeout=TIMEOUT_MS
        )

        run.refresh_from_db()
        assert run.status == RunStatus.CANCELLED
        assert page.locator('button[data-action="cancel"]').count() == 0
        assert page.locator('button[data-action="retry"]').count() == 1
        _screenshot(page, "run_page_cancelled")


class TestAdminInBrowser:
    def test_group_yaml_edit_becomes_version_two_with_a_diff(
        self, page, live_server, demo_group
    ):
        UserFactory(username="operator", is_staff=True, is_superuser=True)
        definition = GroupDefinition.objects.get(name=GROUP)
        path = f"/admin/pipeline_groups/groupdefinition/{definition.pk}/change/"
        _log_in(page, live_server.url)
        page.goto(live_server.url + path)
        editor = page.locator("textarea[name=yaml]")
        text = editor.input_value()

        editor.fill(text.replace("Two slow steps", "Three slow steps"))
        page.get_by_role("button", name="Save and continue editing").click()
        page.get_by_text("diff against v1").click()

        definition.refresh_from_db()
        assert definition.version == 2
        assert (
            "+  description: Three slow steps" in page.locator("pre.diff").inner_text()
        )
        _screenshot(page, "admin_group_versions")
