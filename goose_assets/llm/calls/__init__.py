"""What every real backend shares around its calls, one concern per module: errors,
answer checks, accounting, guards, the cache split and the dry-run estimate.

The backends differ only in how they get text from a model; everything here is the same for
the openai and the in-process vllm backend, so the two cannot drift apart.
"""
