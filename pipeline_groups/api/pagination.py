"""Limit/offset pagination for every list of the API, capped so a page stays cheap."""

from __future__ import annotations

from django.conf import settings
from rest_framework.pagination import LimitOffsetPagination

MAX_PAGE_SIZE = 500


class SpinePagination(LimitOffsetPagination):
    """The `{count, next, previous, results}` envelope, 50 rows by default, 500 at most.

    A limit above the cap is lowered to it rather than refused, and a limit that is
    not a positive number falls back to the default, so paging never fails.
    """

    default_limit = settings.REST_FRAMEWORK.get("PAGE_SIZE", 50)
    max_limit = MAX_PAGE_SIZE
