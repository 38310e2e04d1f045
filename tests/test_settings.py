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


def _shell(code: str, **environment: str) -> str:
    """Print something from the settings a fresh process would have."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SPINE_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(environment)
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


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
            ("REDIS_URL", "127.0.0.1:6379"),
            ("DJANGO_HTTPS", "maybe"),
            ("SPINE_PIPELINE_MODULES", "no_such_module_anywhere"),
        ],
    )
    def test_bad_value_names_the_variable(self, variable, value):
        result = _start(DJANGO_SECRET_KEY="x" * 50, **{variable: value})

        assert result.returncode != 0
        assert variable in result.stderr

    def test_defaults_start(self):
        result = _start(DJANGO_SECRET_KEY="x" * 50)

        assert result.returncode == 0, result.stderr

    def test_https_turns_on_redirect_secure_cookies_and_hsts(self):
        shown = (
            "from django.conf import settings as s; print("
            + ", ".join(
                f"s.{name}"
                for name in (
                    "SECURE_SSL_REDIRECT",
                    "SESSION_COOKIE_SECURE",
                    "CSRF_COOKIE_SECURE",
                    "SECURE_HSTS_SECONDS",
                )
            )
            + ")"
        )

        plain = _shell(shown, DJANGO_SECRET_KEY="x" * 50)
        secure = _shell(shown, DJANGO_SECRET_KEY="x" * 50, DJANGO_HTTPS="1")

        assert plain == "False False False 0"
        assert secure == "True True True 31536000"

    def test_redis_url_chooses_the_redis_broker(self):
        shown = "from django.conf import settings as s; print(sorted(s.Q_CLUSTER))"

        orm = _shell(shown, DJANGO_SECRET_KEY="x" * 50)
        redis = _shell(
            shown, DJANGO_SECRET_KEY="x" * 50, REDIS_URL="redis://127.0.0.1:6379/0"
        )

        assert "'orm'" in orm and "'redis'" not in orm
        assert "'redis'" in redis and "'orm'" not in redis

    def test_sqlite_default_uses_wal_and_immediate_transactions(self):
        shown = (
            "from django.conf import settings as s; "
            "print(s.DATABASES['default']['OPTIONS'])"
        )

        options = _shell(shown, DJANGO_SECRET_KEY="x" * 50)

        assert "'transaction_mode': 'IMMEDIATE'" in options
        assert "journal_mode=WAL" in options
        assert "'timeout': 20" in options
