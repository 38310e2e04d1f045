"""The harness itself: a real cluster takes work, and stopping it leaves nothing."""

from __future__ import annotations

import signal

import pytest
from django_q.models import Schedule
from django_q.tasks import async_task

from pipeline_groups.reaper import REAPER_SCHEDULE_NAME, REAPER_TASK_FUNC
from tests.workers.conftest import Workers, wait_for

pytestmark = [pytest.mark.workers, pytest.mark.django_db(transaction=True)]


class TestClusterHarness:
    def test_cluster_runs_a_task_and_stops_without_orphans(
        self, workers: Workers
    ) -> None:
        cluster = workers.start(workers=2)

        async_task("tests.workers.pipelines.block", 0.1)
        wait_for(
            lambda: any(line["event"] == "block" for line in workers.records()),
            15,
            "the plain task running",
            workers.logs,
        )
        code = cluster.stop(signal.SIGTERM, timeout=20)

        assert code == 0
        assert cluster.pids() == []

    def test_starting_a_worker_ensures_the_reaper_schedule(
        self, workers: Workers
    ) -> None:
        Schedule.objects.filter(name=REAPER_SCHEDULE_NAME).delete()

        workers.start(workers=1)

        schedule = wait_for(
            lambda: Schedule.objects.filter(name=REAPER_SCHEDULE_NAME).first(),
            10,
            "the reaper schedule",
            workers.logs,
        )
        assert schedule.func == REAPER_TASK_FUNC
        assert schedule.schedule_type == Schedule.MINUTES
        assert schedule.minutes == 1
        assert wait_for(
            lambda: "reaping every 1s" in workers.logs(),
            10,
            "the worker's ready line",
            workers.logs,
        )
