"""Token usage and cost of a job's LLM calls, priced from ``REELFLOW_SCRIPT__LLM_PRICES``.

The figures come from each answer's ``usage`` object (what the provider billed), never from a
local token count. A model missing from the price table is costed at 0 and marked ``priced:
false`` so an operator sees that the number is not a real cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.llm.client import Completion
from infra.settings import ScriptSettings

__all__ = ["CHARS_PER_TOKEN", "LLMUsage", "estimate_cost_usd"]

CHARS_PER_TOKEN = 4  # a rough prompt size before the call (for the budget check only)
COMPLETION_TOKENS_PER_WORD = 2  # JSON and bullets around the narration's words


@dataclass
class LLMUsage:
    model: str
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache: str = "miss"  # hit | miss | off

    def add(self, completion: Completion) -> None:
        self.calls += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens

    def cost_usd(self, cfg: ScriptSettings) -> float:
        price = cfg.llm_prices.get(self.model)
        if price is None:
            return 0.0
        return (
            self.prompt_tokens * price.prompt_per_mtok
            + self.completion_tokens * price.completion_per_mtok
        ) / 1_000_000

    def as_dict(self, cfg: ScriptSettings) -> dict[str, Any]:
        """What the ledger, the manifest, ``reelflow show`` and the API show."""
        return {
            "llm_model": self.model,
            "llm_calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "cost_usd": round(self.cost_usd(cfg), 6),
            "priced": self.model in cfg.llm_prices,
            "script_cache": self.cache,
        }


def estimate_cost_usd(messages: list[dict[str, str]], cfg: ScriptSettings) -> float:
    """An upper-end guess of one script call's cost, before making it (budget check)."""
    price = cfg.llm_prices.get(cfg.llm_model)
    if price is None:
        return 0.0
    prompt = sum(len(m["content"]) for m in messages) / CHARS_PER_TOKEN
    completion = cfg.max_words * COMPLETION_TOKENS_PER_WORD
    return (prompt * price.prompt_per_mtok + completion * price.completion_per_mtok) / 1_000_000
