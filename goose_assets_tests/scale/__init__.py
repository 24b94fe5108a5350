"""Scale-out tests: DuckLake on a real PostgreSQL, Celery workers on a real Redis (slow)."""
