"""The Django project that serves Spine pipeline groups."""
