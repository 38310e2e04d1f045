"""Tests of group definitions: documents, the DSL, templates, plans and storage."""
