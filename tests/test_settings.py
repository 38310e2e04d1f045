"""Start-up refuses bad configuration with a message that names the variable."""

import os
import subprocess
import sys

import pytest


def _start(**environment: str) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SPINE_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(environment)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


class TestSettings:
    def test_debug_off_without_secret_key_is_refused(self):
        result = _start()

        assert result.returncode != 0
        assert "DJANGO_SECRET_KEY must be set" in result.stderr

    @pytest.mark.parametrize(
        ("variable", "value"),
        [
            ("SPINE_GROUP_STORAGE", "s3"),
            ("DATABASE_URL", "mongodb://nowhere/db"),
            ("DJANGO_DEBUG", "perhaps"),
            ("SPINE_HEARTBEAT_SECONDS", "often"),
        ],
    )
    def test_bad_value_names_the_variable(self, variable, value):
        result = _start(DJANGO_SECRET_KEY="x" * 50, **{variable: value})

        assert result.returncode != 0
        assert variable in result.stderr

    def test_defaults_start(self):
        result = _start(DJANGO_SECRET_KEY="x" * 50)

        assert result.returncode == 0, result.stderr
