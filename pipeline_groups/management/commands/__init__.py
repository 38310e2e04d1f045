"""`groups`, `rungroup`, `importgroups`, `runpipeline`, `pipelines`, `deadletters`."""
