"""App configuration: load every pipeline module when Django starts."""

import importlib
import logging

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)


def load_pipeline_modules() -> list[str]:
    """Import `domains.pipelines`, then each module of SPINE_PIPELINE_MODULES.

    Importing a module runs its `@register_pipeline` decorators, so every process
    (web, worker, command) ends up with the same registry. The sample domains are
    an app with models, so their pipelines live in `domains.pipelines`, which is
    only importable once the app registry is ready.
    """
    names = ["domains.pipelines", *settings.SPINE_PIPELINE_MODULES]
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise ImproperlyConfigured(
                f"SPINE_PIPELINE_MODULES names {name!r}, which cannot be imported: "
                f"{error}"
            ) from error
    return names


class PipelineGroupsConfig(AppConfig):
    """The pipeline groups app."""

    name = "pipeline_groups"
    verbose_name = "Pipeline groups"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Fill the pipeline registry before any request or task is served."""
        loaded = load_pipeline_modules()
        logger.debug("Loaded pipeline modules %s", ", ".join(loaded))

        # The reaper's schedule (post_migrate) and its loop in each worker.
        from pipeline_groups.reaper import connect_signals

        connect_signals()

        # Python-registered groups (and group files in yaml mode) are mirrored into
        # the table after `migrate`; never here, where the database may not exist.
        from django.db.models.signals import post_migrate

        from pipeline_groups.storage import sync_after_migrate

        post_migrate.connect(
            sync_after_migrate, sender=self, dispatch_uid="spine.sync_group_sources"
        )
