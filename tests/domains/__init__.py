"""Tests of the sample domain pipelines, run for real on files."""
