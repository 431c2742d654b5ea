"""Point-in-time feature families of ``event_features`` (pure polars, no Dagster)."""
