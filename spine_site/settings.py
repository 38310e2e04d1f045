"""Settings for Spine pipeline groups, read from the environment.

Every value has a default that makes the single-machine demo work with nothing but
Python: a SQLite file next to the code and django-q2's ORM broker. Pointing
DATABASE_URL at PostgreSQL and REDIS_URL at Redis scales the same code out to many
workers. A bad value stops start-up with a message that names the variable.
"""

import math
import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def _env_value(name: str, parse, default):
    """Read one variable, turning a parse failure into a message naming it."""
    try:
        return parse(name, default=default)
    except (ValueError, TypeError, KeyError, environ.ImproperlyConfigured) as error:
        raise ImproperlyConfigured(
            f"Environment variable {name} has an invalid value: {error}"
        ) from error


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _strict_bool(name: str, default: bool) -> bool:
    """Parse a yes/no variable, refusing words django-environ would read as false."""
    raw = env.str(name, default=str(default)).strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"{raw!r} is not one of 1/0, true/false, yes/no, on/off")


_SUPPORTED_ENGINES = {"django.db.backends.sqlite3", "django.db.backends.postgresql"}


def _database_from_url(url: str) -> dict:
    """Build Django's DATABASES entry, with the SQLite tuning the workers need."""
    try:
        config = environ.Env.db_url_config(url)
    except Exception as error:  # django-environ raises several unrelated types
        raise ImproperlyConfigured(
            f"DATABASE_URL is not a database URL Django can use ({url!r}): {error}"
        ) from error
    engine = config.get("ENGINE", "")
    if engine not in _SUPPORTED_ENGINES:
        raise ImproperlyConfigured(
            f"DATABASE_URL names an unsupported database ({url!r}); "
            "use sqlite:///path/to/db.sqlite3 or postgres://user@host:port/name"
        )

    # A worker keeps its connection between tasks instead of reopening it (on
    # SQLite, the file and its PRAGMAs) for every step.
    config.setdefault("CONN_MAX_AGE", 60)
    if engine == "django.db.backends.sqlite3":
        # IMMEDIATE transactions serialise writers up front instead of failing
        # with "database is locked" when two workers upgrade a read lock at once.
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    else:
        config.setdefault("CONN_HEALTH_CHECKS", True)
    return config


DEBUG = _env_value("DJANGO_DEBUG", _strict_bool, False)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off; "
            "generate one with: python -c "
            "'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = "insecure-development-key-" + secrets.token_hex(8)

ALLOWED_HOSTS = _env_value(
    "DJANGO_ALLOWED_HOSTS", env.list, ["127.0.0.1", "localhost", "[::1]", "testserver"]
)

HTTPS = _env_value("DJANGO_HTTPS", _strict_bool, False)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_q",
    "domains",
    "pipeline_groups",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "spine_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "spine_site.wsgi.application"

DATABASE_URL = env.str("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
DATABASES = {"default": _database_from_url(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
# Serve straight from the app directories, so a checkout works without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# Spine's own settings.
SPINE_GROUP_STORAGE = env.str("SPINE_GROUP_STORAGE", default="database")
if SPINE_GROUP_STORAGE not in {"database", "yaml"}:
    raise ImproperlyConfigured(
        f"SPINE_GROUP_STORAGE must be 'database' or 'yaml', not {SPINE_GROUP_STORAGE!r}"
    )
SPINE_GROUPS_PATH = Path(env.str("SPINE_GROUPS_PATH", default=str(BASE_DIR / "groups")))
SPINE_PIPELINE_MODULES = _env_value("SPINE_PIPELINE_MODULES", env.list, [])
SPINE_ALLOW_ANONYMOUS_READ = _env_value(
    "SPINE_ALLOW_ANONYMOUS_READ", _strict_bool, False
)
SPINE_DATA_DIR = Path(env.str("SPINE_DATA_DIR", default=str(BASE_DIR / "fixtures")))
SPINE_HEARTBEAT_SECONDS = _env_value("SPINE_HEARTBEAT_SECONDS", env.float, 10.0)
SPINE_HEARTBEAT_TIMEOUT_SECONDS = _env_value(
    "SPINE_HEARTBEAT_TIMEOUT_SECONDS", env.float, 60.0
)
SPINE_REAPER_INTERVAL_SECONDS = _env_value(
    "SPINE_REAPER_INTERVAL_SECONDS", env.float, 60.0
)
SPINE_REDISPATCH_AFTER_SECONDS = _env_value(
    "SPINE_REDISPATCH_AFTER_SECONDS", env.float, 120.0
)
SPINE_STEP_TIMEOUT_SECONDS = _env_value("SPINE_STEP_TIMEOUT_SECONDS", env.int, 3600)
SPINE_WORKERS = _env_value("SPINE_WORKERS", env.int, 2)

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(
        f"REDIS_URL is not a Redis URL ({REDIS_URL!r}); "
        "write e.g. redis://127.0.0.1:6379/0, or leave it unset for the ORM broker"
    )

# django-q2: the engine, not the queue, decides what a failure means, so a task is
# tried once and acknowledged even when it fails. `retry` must exceed the time a task
# can wait in a cluster's local queue plus its run time, or a slow task is delivered
# twice (DESIGN.md section 7); the claim in the database makes a second delivery
# harmless, and this keeps it rare.
_QUEUE_LIMIT = SPINE_WORKERS * 2
Q_CLUSTER = {
    "name": env.str("SPINE_Q_CLUSTER_NAME", default="spine"),
    "workers": SPINE_WORKERS,
    "timeout": SPINE_STEP_TIMEOUT_SECONDS,
    "retry": (math.ceil((_QUEUE_LIMIT + 1) / SPINE_WORKERS) + 1)
    * SPINE_STEP_TIMEOUT_SECONDS
    + 60,
    "max_attempts": 1,
    "ack_failures": True,
    "queue_limit": _QUEUE_LIMIT,
    "save_limit": 250,
    "catch_up": False,
    "label": "Django Q2",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = _env_value("SPINE_ORM_POLL_SECONDS", env.float, 0.05)

REST_FRAMEWORK = {
    # Token first: an anonymous request is then told 401 with `WWW-Authenticate`.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["pipeline_groups.api.permissions.SpinePermission"],
    "DEFAULT_PAGINATION_CLASS": "pipeline_groups.api.pagination.SpinePagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "pipeline_groups.api.exceptions.api_exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Spine pipeline groups API",
    "DESCRIPTION": "Define groups of pipelines with dependencies and run them as one.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "pipeline_groups.models.RunStatus",
        "StepStatusEnum": "pipeline_groups.models.StepStatus",
        "TriggerSourceEnum": "pipeline_groups.models.TriggerSource",
        "EventKindEnum": "pipeline_groups.models.EventKind",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "pipeline_groups": {
            "level": env.str("SPINE_LOG_LEVEL", default="INFO"),
            "handlers": ["console"],
            "propagate": False,
        },
        "domains": {
            "level": env.str("SPINE_LOG_LEVEL", default="INFO"),
            "handlers": ["console"],
            "propagate": False,
        },
    },
}
