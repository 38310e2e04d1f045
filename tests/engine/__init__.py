"""Tests of the run state machine, the inline backend and the run commands."""
