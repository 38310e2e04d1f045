"""Sample domain pipelines that the demo groups run."""
