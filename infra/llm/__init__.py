"""The optional OpenAI-compatible LLM script provider (``client.py``)."""
