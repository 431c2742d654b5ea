"""Pure data logic of each pipeline stage (polars/numpy); nothing here imports Dagster."""
