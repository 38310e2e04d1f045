"""Who may do what through the API.

Reading needs a logged-in user unless SPINE_ALLOW_ANONYMOUS_READ is on. Writing
needs the model permission of the action (add, change or delete a group), and
running, cancelling, retrying and replaying need `pipeline_groups.run_group`.
Each view names the permissions of its writing actions in `action_permissions`;
a writing action that names none is refused to everyone but superusers.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

RUN_PERMISSION = "pipeline_groups.run_group"
ADD_GROUP = "pipeline_groups.add_groupdefinition"
CHANGE_GROUP = "pipeline_groups.change_groupdefinition"
DELETE_GROUP = "pipeline_groups.delete_groupdefinition"


def anonymous_read_allowed() -> bool:
    """Whether SPINE_ALLOW_ANONYMOUS_READ opens reads to everyone (read per request)."""
    return bool(getattr(settings, "SPINE_ALLOW_ANONYMOUS_READ", False))


class SpinePermission(BasePermission):
    """Reads for logged-in users (or all), writes by model or run permission."""

    message = "You do not have permission to perform this action."

    def has_permission(self, request: Request, view: Any) -> bool:
        """Check the request's method and action against the user's permissions."""
        user = request.user
        if request.method in SAFE_METHODS:
            return anonymous_read_allowed() or bool(user and user.is_authenticated)
        if not (user and user.is_authenticated):
            return False

        action = getattr(view, "action", None)
        required = getattr(view, "action_permissions", {}).get(action)
        if required is None:
            return bool(user.is_superuser)
        return user.has_perms(required)
