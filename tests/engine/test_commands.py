"""The run commands in this process, with their output and exit codes.

rungroup, runpipeline, pipelines, deadletters, and the `groups` actions runs,
status, cancel and retry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pipeline_groups import engine
from pipeline_groups.models import (
    Backend,
    DeadLetter,
    EventKind,
    Execution,
    ExecutionEvent,
    GroupRun,
    RunStatus,
    StepStatus,
    TriggerSource,
)
from tests.engine.conftest import statuses

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("pipelines"),
]


class TerminalOutput(StringIO):
    """Output that says it is a terminal, as a person's shell is."""

    def isatty(self) -> bool:
        return True


def command(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def refused(*args: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        command(*args)
    return caught.value


@pytest.fixture
def chain(make_group: Callable[..., str]) -> str:
    """First -> second -> third, the second step using a run param."""
    return make_group(
        [
            ("first", "t.work", [], {}),
            ("second", "t.work", ["first"], {"week": "{{ params.week }}"}),
            ("third", "t.work", ["second"], {}),
        ]
    )


@pytest.fixture
def failing(make_group: Callable[..., str]) -> str:
    """First -> broken -> after, under on_failure stop."""
    return make_group(
        [
            ("first", "t.work", [], {}),
            ("broken", "t.fail", ["first"], {}),
            ("after", "t.work", ["broken"], {}),
        ]
    )


class TestRungroup:
    def test_runs_inline_prints_plan_transitions_and_summary(self, chain: str) -> None:
        output = command("rungroup", chain, "--param", "week=2026-01-03")

        run = GroupRun.objects.get()
        assert run.status == RunStatus.COMPLETED
        assert run.trigger_source == TriggerSource.CLI
        assert run.backend == Backend.INLINE
        lines = output.splitlines()
        assert lines[0].startswith(f"Plan for {chain} v1: 3 steps")
        assert '       week = "2026-01-03"  [run]' in lines
        transitions = [line.split()[1:3] for line in lines if line[:1].isdigit()]
        assert ["third", "completed"] in transitions
        assert transitions.index(["first", "completed"]) < transitions.index(
            ["second", "running"]
        )
        assert lines[-1].startswith(f"Run {run.id} completed in ")
        assert lines[-1].endswith(": 3 completed")

    def test_a_failed_run_exits_1_with_the_failing_step(self, failing: str) -> None:
        error = refused("rungroup", failing)

        run = GroupRun.objects.get()
        assert error.returncode == 1
        assert str(error) == f"run {run.id} failed"
        assert statuses(run) == {
            "first": StepStatus.COMPLETED,
            "broken": StepStatus.FAILED,
            "after": StepStatus.SKIPPED,
        }

    def test_plan_prints_params_with_their_origin_and_runs_nothing(
        self, make_group: Callable[..., str]
    ) -> None:
        name = make_group(
            [("only", "t.work", [], {"limit": 5, "week": "{{ params.week }}"})],
            defaults={"region": "us"},
        )

        output = command(
            "rungroup", name, "--plan", "--param", "week=w1", "--param", "extra=[1,2]"
        )

        assert GroupRun.objects.count() == 0
        assert Execution.objects.count() == 0
        assert 'run params: week="w1", extra=[1, 2]' in output
        assert '       region = "us"  [default]' in output
        assert "       extra = [1, 2]  [run]" in output
        assert "       limit = 5  [step]" in output
        assert '       week = "w1"  [step]' in output

    def test_plan_of_an_inactive_group_says_a_run_is_refused(self, chain: str) -> None:
        from pipeline_groups import storage

        storage.deactivate_group(chain)

        output = command("rungroup", chain, "--plan", "--param", "week=w")
        error = refused("rungroup", chain, "--param", "week=w")

        assert output.splitlines()[0] == (
            f"Group {chain} is inactive: this plan resolves, but a run is refused "
            "until the group is activated"
        )
        assert error.returncode == 2
        assert "inactive" in str(error)

    def test_params_file_json_or_yaml_and_param_options_win(
        self, chain: str, tmp_path: Path
    ) -> None:
        as_yaml = tmp_path / "params.yaml"
        as_yaml.write_text("week: 2026-01-03\nlimit: 3\n")
        as_json = tmp_path / "params.json"
        as_json.write_text(json.dumps({"week": "from-json"}))

        command("rungroup", chain, "--params-file", str(as_yaml), "--param", "limit=9")
        command("rungroup", chain, "--params-file", str(as_json))

        first, second = GroupRun.objects.order_by("created_at")
        assert first.params == {"week": "2026-01-03", "limit": 9}
        assert second.params == {"week": "from-json"}

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["nope.group"], "Group 'nope.group' does not exist"),
            ([], "needs run parameter 'week'"),
            (["--param", "week"], "'week' is not of the form NAME=VALUE"),
            (["--params-file", "/nowhere.yaml"], "cannot be read"),
            (["--wait"], "--wait goes with --async"),
        ],
    )
    def test_bad_input_exits_2_and_records_nothing(
        self, chain: str, args: list[str], message: str
    ) -> None:
        target = args[:1] if args[:1] == ["nope.group"] else [chain, *args]

        error = refused("rungroup", *target)

        assert error.returncode == 2
        assert message in str(error)
        assert "\n" not in str(error)
        assert GroupRun.objects.count() == 0
        assert Execution.objects.count() == 0

    def test_a_params_file_that_is_not_a_mapping_is_bad_input(
        self, chain: str, tmp_path: Path
    ) -> None:
        listing = tmp_path / "params.yaml"
        listing.write_text("- week\n")

        error = refused("rungroup", chain, "--params-file", str(listing))

        assert error.returncode == 2
        assert "must hold a mapping" in str(error)

    def test_on_a_terminal_a_live_table_is_redrawn(self, chain: str) -> None:
        terminal = TerminalOutput()

        call_command("rungroup", chain, "--param", "week=w", stdout=terminal)

        run = GroupRun.objects.get()
        drawn = terminal.getvalue()
        plain = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", drawn)
        assert "\x1b[4F\x1b[J" in drawn
        assert f"Run {run.id}  completed  3/3 steps" in plain
        assert re.search(r"^  third +completed +\d", plain, flags=re.M)
        assert plain.rstrip().splitlines()[-1].startswith(f"Run {run.id} completed")

    def test_async_enqueues_for_the_workers_and_returns(self, chain: str) -> None:
        output = command("rungroup", chain, "--param", "week=w", "--async")

        run = GroupRun.objects.get()
        assert run.backend == Backend.DJANGO_Q
        assert run.status in (RunStatus.PENDING, RunStatus.RUNNING)
        assert output.splitlines()[-1] == f"Run {run.id} enqueued for the workers"


class TestRunpipeline:
    def test_success_records_events_and_result(self) -> None:
        output = command("runpipeline", "t.work", "--param", "label=alone")

        execution = Execution.objects.get()
        assert execution.status == StepStatus.COMPLETED
        assert execution.result == {"label": "alone"}
        assert execution.trigger_source == TriggerSource.CLI
        kinds = list(execution.events.values_list("kind", flat=True))
        assert kinds == [EventKind.QUEUED, EventKind.STARTED, EventKind.COMPLETED]
        assert f"Execution {execution.id} of t.work completed" in output
        assert 'result: {"label": "alone"}' in output

    def test_failure_exits_1_keeps_the_traceback_and_a_dead_letter(self) -> None:
        error = refused("runpipeline", "t.fail", "--param", "label=x")

        execution = Execution.objects.get()
        assert error.returncode == 1
        assert execution.status == StepStatus.FAILED
        assert "ValueError: x broke" in execution.error
        assert 'raise ValueError(f"{label} broke")' in execution.traceback
        assert DeadLetter.objects.get().execution_id == execution.id
        assert list(execution.events.values_list("kind", flat=True))[-1] == (
            EventKind.FAILED
        )

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["t.wrok"], "'t.wrok' is not registered; did you mean 't.work'"),
            (["t.work"], "missing required label"),
        ],
    )
    def test_unknown_pipeline_or_missing_param_exits_2_and_records_nothing(
        self, args: list[str], message: str
    ) -> None:
        error = refused("runpipeline", *args)

        assert error.returncode == 2
        assert message in str(error)
        assert Execution.objects.count() == 0
        assert ExecutionEvent.objects.count() == 0

    def test_pipelines_lists_each_with_its_parameters(self) -> None:
        output = command("pipelines")

        lines = output.splitlines()
        after_work = lines[lines.index("  t.work") + 1]
        assert after_work == "    params: label, seconds=0.0, **params"
        assert "  t.keyed" in lines
        assert "    logical key: week:{week}" in lines
        assert "  finra.otc_transparency.ingest_week" in lines


class TestRunsAndStatus:
    def test_runs_lists_newest_first_with_filters(
        self, chain: str, failing: str
    ) -> None:
        command("rungroup", chain, "--param", "week=w")
        refused("rungroup", failing)
        ok, bad = GroupRun.objects.order_by("created_at")

        everything = command("groups", "runs").splitlines()
        only_failed = command("groups", "runs", "--status", "failed")
        only_chain = command("groups", "runs", "--group", chain)

        assert everything[0] == "2 of 2 runs, newest first"
        assert everything[1].split()[:4] == [bad.id, failing, "v1", "failed"]
        assert everything[2].split()[:4] == [ok.id, chain, "v1", "completed"]
        assert bad.id in only_failed and ok.id not in only_failed
        assert ok.id in only_chain and bad.id not in only_chain
        assert command("groups", "runs", "--group", "none.such") == "No runs\n"

    def test_status_shows_reasons_and_param_sources(self, failing: str) -> None:
        refused("rungroup", failing)
        run = GroupRun.objects.get()

        output = command("groups", "status", run.id)

        assert output.splitlines()[0] == (
            f"Run {run.id}  {failing} v1  failed  3/3 steps done"
        )
        assert "       why: skipped because broken failed" in output
        assert "       why: ValueError" not in output
        assert "       error: ValueError: broken broke" in output
        assert '       label = "after"  [step]' in output
        assert "policy: execution sequential, max_concurrency 4, on_failure stop" in (
            output
        )

    def test_status_of_a_pending_step_says_what_it_waits_for(
        self, make_group: Callable[..., str]
    ) -> None:
        name = make_group(
            [("first", "t.work", [], {}), ("second", "t.work", ["first"], {})]
        )
        run = engine.start_run(name, {}, trigger_source=TriggerSource.API)
        engine.advance_run(run.id)

        output = command("groups", "status", run.id)

        assert "why: waiting for first" in output

    def test_status_of_an_unknown_run_exits_2(self) -> None:
        error = refused("groups", "status", "01NOPE")

        assert error.returncode == 2
        assert str(error) == "Group run '01NOPE' does not exist"


class TestCancelAndRetry:
    def test_cancel_ends_a_waiting_run_and_a_second_cancel_exits_1(
        self, chain: str
    ) -> None:
        run = engine.start_run(chain, {"week": "w"}, trigger_source=TriggerSource.API)

        output = command("groups", "cancel", run.id)
        again = refused("groups", "cancel", run.id)

        run.refresh_from_db()
        assert run.status == RunStatus.CANCELLED
        assert output.splitlines()[0] == f"Run {run.id} cancel requested: cancelled"
        assert again.returncode == 1
        assert "already finished (cancelled)" in str(again)

    def test_retry_inline_reruns_only_what_did_not_complete(
        self, failing: str, recorder
    ) -> None:
        refused("rungroup", failing)
        run = GroupRun.objects.get()
        first_runs = recorder.names().count("first")

        error = refused("groups", "retry", run.id, "--inline")

        assert error.returncode == 1
        assert recorder.names().count("first") == first_runs
        assert recorder.names().count("broken") == 2
        attempts = run.step_executions.filter(step_name="broken").count()
        assert attempts == 2

    def test_retry_hands_the_run_to_the_workers_and_returns(self, failing: str) -> None:
        refused("rungroup", failing)
        run = GroupRun.objects.get()

        output = command("groups", "retry", run.id)

        run.refresh_from_db()
        assert run.backend == Backend.DJANGO_Q
        assert run.status in (RunStatus.PENDING, RunStatus.RUNNING)
        assert output.splitlines()[0] == (
            f"Run {run.id} resumed on the workers: 2 steps run again"
        )

    def test_retry_of_a_completed_run_exits_1(self, chain: str) -> None:
        command("rungroup", chain, "--param", "week=w")
        run = GroupRun.objects.get()

        error = refused("groups", "retry", run.id)

        assert error.returncode == 1
        assert "it completed" in str(error)


class TestDeadletters:
    def test_list_shows_waiting_letters_with_their_step(self, failing: str) -> None:
        refused("rungroup", failing)
        letter = DeadLetter.objects.get()
        run = GroupRun.objects.get()

        output = command("deadletters", "list")

        assert output.splitlines()[0] == "1 dead letters"
        assert f"  {letter.id}  " in output and "t.fail  waiting" in output
        assert f"    run {run.id} step broken, execution {letter.execution_id}" in (
            output
        )
        assert "    ValueError: broken broke" in output

    def test_replay_inline_resumes_the_run_in_place(self, failing: str) -> None:
        refused("rungroup", failing)
        letter = DeadLetter.objects.get()
        run = GroupRun.objects.get()

        error = refused("deadletters", "replay", letter.id, "--inline")

        letter.refresh_from_db()
        assert error.returncode == 1
        assert letter.replayed_at is not None
        assert GroupRun.objects.count() == 1
        assert run.step_executions.filter(step_name="broken").count() == 2
        waiting = command("deadletters", "list")
        assert letter.id not in waiting
        assert "1 dead letters" in waiting
        assert f"{letter.id}  " in command("deadletters", "list", "--all")

    def test_replay_of_a_lone_execution_runs_it_again(self) -> None:
        refused("runpipeline", "t.fail", "--param", "label=x")
        letter = DeadLetter.objects.get()

        output = command("deadletters", "replay", letter.id)

        letter.refresh_from_db()
        assert output == (
            f"Dead letter {letter.id} replayed as execution "
            f"{letter.replay_execution_id}\n"
        )
        assert letter.replay_execution.trigger_source == TriggerSource.REPLAY

    def test_replaying_twice_exits_1_and_unknown_exits_2(self) -> None:
        refused("runpipeline", "t.fail", "--param", "label=x")
        letter = DeadLetter.objects.get()
        command("deadletters", "replay", letter.id)

        twice = refused("deadletters", "replay", letter.id)
        unknown = refused("deadletters", "replay", "01NOPE")

        assert twice.returncode == 1
        assert "already replayed" in str(twice)
        assert unknown.returncode == 2
