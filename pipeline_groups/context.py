"""What a running pipeline is told about the execution it belongs to."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def _never_cancelled() -> bool:
    return False


@dataclass
class ExecutionContext:
    """The first argument of every pipeline function.

    `cancel_requested` is a property backed by a callable, so a long pipeline can
    poll it between chunks of work and stop early when its run is cancelled or
    times out; the engine decides how the answer is found (a flag set by the
    heartbeat thread, a database read).
    """

    execution_id: str
    batch_id: str
    params: dict[str, Any] = field(default_factory=dict)
    logger: logging.Logger = field(
        default_factory=lambda: logging.getLogger("pipeline_groups.pipeline")
    )
    cancel_check: Callable[[], bool] = field(default=_never_cancelled, repr=False)

    @property
    def cancel_requested(self) -> bool:
        """Whether the run this execution belongs to was asked to stop."""
        return self.cancel_check()
