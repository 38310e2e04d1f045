"""Routes of the server-rendered pages and of Django's login views."""

from django.urls import include, path

from pipeline_groups import views

urlpatterns = [
    path("", views.pipelines, name="pipelines"),
    path("rows/", views.pipeline_rows, name="pipeline-rows"),
    path("groups/<str:name>/run/", views.run_group, name="run-group"),
    path("runs/<str:run_id>/", views.run_detail, name="run-detail"),
    path("runs/<str:run_id>/live/", views.run_live, name="run-live"),
    path("runs/<str:run_id>/cancel/", views.cancel_run, name="run-cancel"),
    path("runs/<str:run_id>/retry/", views.retry_run, name="run-retry"),
    path("accounts/", include("django.contrib.auth.urls")),
]
