"""Quick end-to-end check while building."""

import pytest

from tests.engine.conftest import statuses

pytestmark = pytest.mark.django_db(transaction=True)


class TestSmoke:
    def test_chain_completes(self, make_group, run_group, recorder):
        name = make_group(
            [
                ("a", "t.work", [], {}),
                ("b", "t.work", ["a"], {}),
                ("c", "t.work", ["b"], {}),
            ]
        )

        run = run_group(name)

        assert run.status == "completed"
        assert recorder.names() == ["a", "b", "c"]
        assert statuses(run) == {"a": "completed", "b": "completed", "c": "completed"}
