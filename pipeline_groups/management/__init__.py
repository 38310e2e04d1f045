"""Management commands of the pipeline groups app."""
