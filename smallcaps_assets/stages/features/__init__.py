"""Point-in-time feature families of ``event_features`` (pure polars; one module per family)."""
