"""The Dagster layer: thin assets, one module per stage, plus checks."""
