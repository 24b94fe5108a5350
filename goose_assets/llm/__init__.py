"""LLM backends behind one interface (`LLMBackend.generate`): offline, openai, vllm."""
