"""Top-level routes: the admin, the REST API and the status pages."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("pipeline_groups.api.urls")),
    path("", include("pipeline_groups.urls")),
]
