"""The optional OpenAI-compatible LLM script provider: ``client.py`` (one chat-completions call,
errors mapped to codes), ``prompts.py`` (the schema asked for, the one repair request, the prompt
version that keys the cache) and ``usage.py`` (tokens billed x the price table). The cache and the
budget live in the ledger (infra/store/script_cache.py, infra/jobs/budget.py); the script stage
(tasks/script/llm.py) puts them together."""
