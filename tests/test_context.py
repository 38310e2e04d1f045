"""The execution context every pipeline receives as its first argument."""

from __future__ import annotations

import logging

from pipeline_groups import ExecutionContext


class TestExecutionContext:
    def test_carries_ids_and_params(self) -> None:
        ctx = ExecutionContext("01EXEC", "group_x_20260103T000000_abc123", {"a": 1})

        assert ctx.execution_id == "01EXEC"
        assert ctx.batch_id == "group_x_20260103T000000_abc123"
        assert ctx.params == {"a": 1}

    def test_is_not_cancelled_by_default(self) -> None:
        ctx = ExecutionContext("01EXEC", "batch")

        assert ctx.cancel_requested is False
        assert ctx.params == {}

    def test_cancel_requested_asks_the_check_each_time(self) -> None:
        flag = {"cancelled": False}
        ctx = ExecutionContext(
            "01EXEC", "batch", cancel_check=lambda: flag["cancelled"]
        )

        before = ctx.cancel_requested
        flag["cancelled"] = True

        assert before is False
        assert ctx.cancel_requested is True

    def test_has_a_logger_by_default(self) -> None:
        ctx = ExecutionContext("01EXEC", "batch")

        assert isinstance(ctx.logger, logging.Logger)

    def test_uses_the_logger_it_is_given(self) -> None:
        logger = logging.getLogger("tests.context")

        ctx = ExecutionContext("01EXEC", "batch", logger=logger)

        assert ctx.logger is logger

    def test_params_are_not_shared_between_contexts(self) -> None:
        first = ExecutionContext("01A", "batch")
        second = ExecutionContext("01B", "batch")

        first.params["x"] = 1

        assert second.params == {}
