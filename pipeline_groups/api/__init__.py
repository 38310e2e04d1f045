"""The REST API under /api/: groups, runs, pipelines, executions, dead letters."""
