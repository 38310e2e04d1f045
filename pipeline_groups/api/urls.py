"""Routes of the REST API, mounted at /api/ with the final slash optional.

Runs are registered before groups so that `groups/runs/` is the run list and not
a group called "runs" (a name the loader reserves). Group and pipeline names may
contain dots, so their lookups accept any character but a slash. Anything else
under /api/ is a JSON 404.
"""

from django.urls import path, re_path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)
from rest_framework.routers import DefaultRouter

from pipeline_groups.api import views

app_name = "api"


class OptionalSlashRouter(DefaultRouter):
    """A router whose routes match with or without the final slash."""

    include_format_suffixes = False

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("groups/runs", views.GroupRunViewSet, basename="runs")
router.register("groups", views.GroupViewSet, basename="groups")
router.register("pipelines", views.PipelineViewSet, basename="pipelines")
router.register("executions", views.ExecutionViewSet, basename="executions")
router.register("dead-letters", views.DeadLetterViewSet, basename="dead-letters")

urlpatterns = [
    re_path(r"^schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(
        r"^docs/?$",
        SpectacularSwaggerView.as_view(url_name="api:schema"),
        name="docs",
    ),
    re_path(
        r"^redoc/?$",
        SpectacularRedocView.as_view(url_name="api:schema"),
        name="redoc",
    ),
    *router.urls,
    path("<path:unknown>", views.ApiNotFoundView.as_view(), name="not-found"),
]
