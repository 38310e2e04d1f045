"""`groups schedule`, `groups schedules` and `groups unschedule`."""

from __future__ import annotations

import ast
import io
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_q.models import Schedule

from pipeline_groups import tasks
from pipeline_groups.cli.schedules import SCHEDULED_RUN_FUNC
from pipeline_groups.exceptions import GroupNotFoundError
from pipeline_groups.models import Backend, GroupRun, RunStatus, TriggerSource
from tests.workers.cluster import ROOT
from tests.workers.conftest import make_group

pytestmark = pytest.mark.django_db


def groups(*args: str) -> str:
    out = io.StringIO()
    call_command("groups", *args, stdout=out, no_color=True)
    return out.getvalue()


@pytest.fixture
def nightly() -> str:
    make_group(
        "workers_test.nightly",
        [
            {
                "name": "only",
                "pipeline": "workers_test.sleep",
                "params": {"label": "{{ params.label }}"},
            }
        ],
    )
    return "workers_test.nightly"


def run_schedules() -> list[Schedule]:
    return list(Schedule.objects.filter(func=SCHEDULED_RUN_FUNC).order_by("pk"))


class TestSchedule:
    def test_creates_a_cron_schedule_that_starts_the_group(self, nightly: str) -> None:
        output = groups(
            "schedule", nightly, "--cron", "0 6 * * 1-5", "--param", "label=x"
        )

        (schedule,) = run_schedules()
        assert schedule.schedule_type == Schedule.CRON
        assert schedule.cron == "0 6 * * 1-5"
        assert ast.literal_eval(schedule.kwargs) == {
            "group_name": nightly,
            "params": {"label": "x"},
        }
        assert schedule.next_run is not None
        assert output.rstrip().endswith("created")

    def test_same_cron_again_replaces_the_params(self, nightly: str) -> None:
        groups("schedule", nightly, "--cron", "*/5 * * * *", "--param", "label=a")

        again = groups(
            "schedule", nightly, "--cron", "*/5 * * * *", "--param", "label=a"
        )
        changed = groups(
            "schedule", nightly, "--cron", "*/5 * * * *", "--param", "label=b"
        )

        (schedule,) = run_schedules()
        assert again.rstrip().endswith("unchanged")
        assert changed.rstrip().endswith("updated")
        assert ast.literal_eval(schedule.kwargs)["params"] == {"label": "b"}

    def test_param_values_that_read_as_json_keep_their_type(self, nightly: str) -> None:
        groups(
            "schedule", nightly, "--cron", "0 * * * *",
            "--param", "label=2026-01-03", "--param", "limit=3",
        )  # fmt: skip

        (schedule,) = run_schedules()
        params = ast.literal_eval(schedule.kwargs)["params"]
        assert params == {"label": "2026-01-03", "limit": 3}

    def test_a_bad_cron_expression_is_refused(self, nightly: str) -> None:
        with pytest.raises(CommandError, match="'every day' is not a cron expression"):
            groups("schedule", nightly, "--cron", "every day", "--param", "label=x")

        assert run_schedules() == []

    def test_an_unknown_group_is_refused(self, nightly: str) -> None:
        with pytest.raises(
            CommandError, match="'workers_test.nightlyy' does not exist"
        ):
            groups("schedule", "workers_test.nightlyy", "--cron", "0 6 * * *")

        assert run_schedules() == []

    def test_a_missing_run_param_is_refused(self, nightly: str) -> None:
        with pytest.raises(CommandError, match="label"):
            groups("schedule", nightly, "--cron", "0 6 * * *")

        assert run_schedules() == []

    def test_a_param_without_a_value_is_refused(self, nightly: str) -> None:
        with pytest.raises(CommandError, match="'label' is not of the form NAME=VALUE"):
            groups("schedule", nightly, "--cron", "0 6 * * *", "--param", "label")

    def test_bad_input_exits_non_zero_with_one_line(self) -> None:
        result = subprocess.run(
            [sys.executable, "manage.py", "groups", "schedule", "x", "--cron", "bad"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert result.returncode != 0
        assert result.stderr.strip().count("\n") == 0
        assert "'bad' is not a cron expression" in result.stderr


class TestSchedulesAndUnschedule:
    def test_schedules_lists_each_with_its_cron(self, nightly: str) -> None:
        groups("schedule", nightly, "--cron", "0 6 * * *", "--param", "label=x")
        groups("schedule", nightly, "--cron", "30 18 * * 5", "--param", "label=y")

        output = groups("schedules")

        lines = output.splitlines()
        assert lines[0] == "Schedules:"
        assert len(lines) == 3
        assert "cron '0 6 * * *'" in lines[1] and "label=x" in lines[1]
        assert "cron '30 18 * * 5'" in lines[2] and "label=y" in lines[2]

    def test_schedules_says_when_there_are_none(self) -> None:
        assert groups("schedules").strip() == "No schedules."

    def test_unschedule_removes_every_schedule_of_the_group(self, nightly: str) -> None:
        groups("schedule", nightly, "--cron", "0 6 * * *", "--param", "label=x")
        groups("schedule", nightly, "--cron", "0 7 * * *", "--param", "label=x")

        output = groups("unschedule", nightly)

        assert run_schedules() == []
        assert "Removed 2 schedules of workers_test.nightly" in output

    def test_unschedule_of_a_group_without_schedule_is_refused(self) -> None:
        with pytest.raises(CommandError, match="'nothing' has no schedule"):
            groups("unschedule", "nothing")

    def test_the_reaper_schedule_is_not_listed(self, nightly: str) -> None:
        assert Schedule.objects.filter(name="spine.reaper").exists()

        assert groups("schedules").strip() == "No schedules."


class TestScheduledRun:
    def test_start_scheduled_run_starts_a_worker_run_from_the_scheduler(
        self, nightly: str
    ) -> None:
        run_id = tasks.start_scheduled_run(nightly, {"label": "x"})

        run = GroupRun.objects.get(pk=run_id)
        assert run.trigger_source == TriggerSource.SCHEDULER
        assert run.backend == Backend.DJANGO_Q
        assert run.params == {"label": "x"}
        assert run.status == RunStatus.PENDING

    def test_start_scheduled_run_of_a_missing_group_raises(self) -> None:
        with pytest.raises(GroupNotFoundError):
            tasks.start_scheduled_run("workers_test.gone", {})
