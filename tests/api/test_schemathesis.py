"""Schemathesis over /api/schema/ against a live server, authenticated by token.

Every operation of the schema gets a bounded number of generated requests, valid
ones and invalid ones; each answer must not be a 5xx and must conform to the
schema (status code, content type, body). A few real objects exist, so not every
answer is a 404.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import make_user
from tests.factories import (
    DeadLetterFactory,
    ExecutionFactory,
    GroupDefinitionFactory,
    GroupRunFactory,
)

MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def token(transactional_db: None) -> str:
    """Return the key of a superuser's token, with a few objects to find."""
    user = make_user("admin")
    group = GroupDefinitionFactory(name="finra.weekly_refresh")
    GroupRunFactory(group=group)
    ExecutionFactory()
    DeadLetterFactory()
    return Token.objects.create(user=user).key


def fuzz(
    operation: Any, mode: GenerationMode, base_url: str, headers: dict[str, str]
) -> None:
    """Send generated requests to one operation and validate every answer."""

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)

    check()


@pytest.mark.django_db(transaction=True)
class TestSchemathesis:
    def test_no_5xx_and_every_answer_conforms(
        self, live_server: Any, token: str
    ) -> None:
        headers = {"Authorization": f"Token {token}"}
        schema = schemathesis.openapi.from_url(
            f"{live_server.url}/api/schema/", headers=headers
        )

        operations = [result.ok() for result in schema.get_all_operations()]
        failures = []
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    fuzz(operation, mode, live_server.url, headers)
                except Unsatisfiable:
                    # No invalid value fits this operation's parameters at all.
                    continue
                except Exception as error:  # noqa: BLE001  (report them all)
                    failures.append(f"{operation.label} ({mode.value}): {error}")

        assert len(operations) == 19
        assert not failures, "\n\n".join(failures)
