"""Sample domain pipelines that the demo groups run."""

from domains import python_groups  # noqa: F401  (registers its group)
