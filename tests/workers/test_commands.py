"""The run commands as a person runs them: their own process, real workers, Ctrl-C.

Each test runs `manage.py` in a subprocess against the test database, with the
throwaway pipelines of `tests.workers.pipelines` registered, and reads its exit
code and output the way a shell script would.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline_groups.models import (
    DeadLetter,
    Execution,
    GroupRun,
    RunStatus,
    StepStatus,
)
from tests.workers.cluster import ROOT
from tests.workers.conftest import (
    Workers,
    make_group,
    sleep,
    step_rows,
    wait_for,
)

pytestmark = [pytest.mark.workers, pytest.mark.django_db(transaction=True)]


def manage(workers: Workers, *args: str) -> subprocess.Popen:
    """Start `manage.py ARGS` with the test database and pipelines."""
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=workers.environment(1, {}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float = 90) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, out, err


class TestRungroupProcess:
    def test_ctrl_c_cancels_the_run_and_exits_130(self, workers: Workers) -> None:
        make_group(
            "workers_test.slow_cli",
            [sleep("long", 30), sleep("after", 0.1, "long")],
            execution="sequential",
        )
        process = manage(workers, "rungroup", "workers_test.slow_cli")
        wait_for(
            lambda: Execution.objects.filter(status=StepStatus.RUNNING).exists(),
            30,
            "the first step starting",
            lambda: "",
        )

        process.send_signal(signal.SIGINT)
        code, out, err = finish(process, timeout=30)

        run = GroupRun.objects.get()
        assert code == 130, out + err
        assert run.status == RunStatus.CANCELLED
        assert {r[-1].execution.status for r in step_rows(run.id).values()} == {
            StepStatus.CANCELLED
        }
        assert f"interrupted: run {run.id} is cancelled" in err
        assert "Traceback" not in err

    def test_async_wait_follows_the_run_on_the_workers(self, workers: Workers) -> None:
        make_group(
            "workers_test.cli_pair",
            [sleep("one", 0.1), sleep("two", 0.1, "one")],
        )
        workers.start(workers=1)

        code, out, err = finish(
            manage(workers, "rungroup", "workers_test.cli_pair", "--async", "--wait")
        )

        run = GroupRun.objects.get()
        assert code == 0, out + err
        assert run.status == RunStatus.COMPLETED
        lines = out.splitlines()
        assert f"Run {run.id} enqueued for the workers" in lines
        assert [line.split()[1:3] for line in lines if line[:1].isdigit()][-1] == [
            "two",
            "completed",
        ]
        assert lines[-1].startswith(f"Run {run.id} completed in ")

    def test_bad_input_exits_2_with_one_line_and_no_traceback(
        self, workers: Workers
    ) -> None:
        make_group("workers_test.cli_bad", [sleep("one", 0)])

        code, out, err = finish(
            manage(workers, "rungroup", "workers_test.cli_bda", "--param", "x=1")
        )

        assert code == 2
        assert err.strip().splitlines() == [
            "CommandError: Group 'workers_test.cli_bda' does not exist; "
            "did you mean 'workers_test.cli_bad'?"
        ]
        assert GroupRun.objects.count() == 0


class TestRunpipelineProcess:
    def test_exit_codes_of_success_failure_and_bad_input(
        self, workers: Workers, tmp_path: Path
    ) -> None:
        ok = finish(manage(workers, "runpipeline", "workers_test.sleep"))
        failed = finish(manage(workers, "runpipeline", "workers_test.fail"))
        unknown = finish(manage(workers, "runpipeline", "workers_test.nope"))

        assert ok[0] == 0, ok
        assert failed[0] == 1, failed
        assert unknown[0] == 2, unknown
        assert Execution.objects.count() == 2
        assert DeadLetter.objects.get().pipeline_name == "workers_test.fail"
        assert "RuntimeError: step  failed on purpose" in failed[1]


class TestRetryProcess:
    def test_retry_wait_resumes_a_failed_run_on_the_workers(
        self, workers: Workers
    ) -> None:
        make_group(
            "workers_test.cli_retry",
            [
                sleep("one", 0),
                {
                    "name": "broken",
                    "pipeline": "workers_test.fail",
                    "depends_on": ["one"],
                    "params": {"label": "broken"},
                },
            ],
        )
        first = finish(manage(workers, "rungroup", "workers_test.cli_retry"))
        run = GroupRun.objects.get()
        workers.start(workers=1)

        started = time.monotonic()
        code, out, err = finish(manage(workers, "groups", "retry", run.id, "--wait"))

        run.refresh_from_db()
        assert first[0] == 1
        assert code == 1, out + err
        assert time.monotonic() - started < 60
        assert run.status == RunStatus.FAILED
        rows = step_rows(run.id)
        assert len(rows["one"]) == 1
        assert len(rows["broken"]) == 2
        assert out.splitlines()[0] == (
            f"Run {run.id} resumed on the workers: 1 steps run again"
        )
