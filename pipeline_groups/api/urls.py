"""Routes of the REST API."""

urlpatterns: list = []
