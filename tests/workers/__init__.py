"""Tests with real django-q2 worker processes."""
