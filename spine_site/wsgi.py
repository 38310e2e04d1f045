"""WSGI entry point, for servers such as gunicorn or mod_wsgi."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spine_site.settings")

application = get_wsgi_application()
