"""Routes of the server-rendered pages."""

urlpatterns: list = []
