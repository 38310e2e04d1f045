"""Market data sample domain: daily prices per symbol."""
