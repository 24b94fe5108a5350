"""Pure logic of the Golden Goose pipeline. Nothing in this package imports Dagster."""
