"""FINRA sample domain: OTC transparency weekly summaries."""
