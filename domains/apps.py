"""App configuration for the sample domains, so their tables get migrations."""

from django.apps import AppConfig


class DomainsConfig(AppConfig):
    """The sample domain pipelines (finra, market_data, reference) and their tables.

    Pipelines are not imported here: `pipeline_groups` loads `domains.pipelines`
    when it is ready, after every app's models exist.
    """

    name = "domains"
    verbose_name = "Sample domains"
    default_auto_field = "django.db.models.BigAutoField"
