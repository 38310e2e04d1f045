"""Tests of Spine pipeline groups, mirroring the app's modules."""
