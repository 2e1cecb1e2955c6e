"""The script stage: word and slide limits, the length policy (``narration``), the script provider
(extractive or an LLM) with its cache, price table and per-client budget.

Speaking-rate targets are per language, measured against the voices (tasks/script/language.py:
English 155 wpm, Arabic 120 wpm); there is no setting for them because the duration estimate must
match what the voices really do."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from infra.settings.narration import NarrationSettings

__all__ = ["LLMPrice", "ScriptSettings"]


class LLMPrice(BaseModel):
    """What a model's tokens cost, in US dollars per million tokens."""

    prompt_per_mtok: float = Field(0.0, ge=0)
    completion_per_mtok: float = Field(0.0, ge=0)


class ScriptSettings(BaseModel):
    max_words: int = Field(
        400,
        description=(
            "Most narration words a script may have: a longer document is summarised to it "
            "(the most informative sentences of each section, in order), never refused."
        ),
    )
    max_slides: int = Field(20, description="Most slides one script may have.")
    max_bullets: int = Field(5, description="Most bullets on one slide.")
    min_alnum_ratio: float = Field(
        0.3, description="Least share of letters/digits among visible characters (gibberish)."
    )
    narration: NarrationSettings = Field(
        default_factory=NarrationSettings,
        description="The narration's length policy, slide splitting and tables.",
    )
    provider: Literal["extractive", "llm"] = Field(
        "extractive", description="Script writer: extractive (offline) or llm (OpenAI-compatible)."
    )
    llm_base_url: str = Field(
        "http://127.0.0.1:11434/v1",
        description="OpenAI-compatible API root; /chat/completions is appended (Ollama default).",
    )
    llm_model: str = Field("llama3.1:8b", description="Model name sent to the LLM provider.")
    llm_api_key: SecretStr = Field(
        SecretStr("changeme"), description="Bearer API key of the LLM provider."
    )
    llm_timeout_s: float = Field(
        120.0, description="Limit for connecting to the LLM and for the wait for its answer."
    )
    llm_prices: dict[str, LLMPrice] = Field(
        default_factory=dict,
        description=(
            "Price table, model -> USD per million prompt/completion tokens, as JSON: "
            '{"gpt-4o-mini": {"prompt_per_mtok": 0.15, "completion_per_mtok": 0.6}}; '
            "a model not listed is costed at 0 and its usage is marked unpriced."
        ),
    )
    llm_cache: bool = Field(
        True,
        description=(
            "Reuse an LLM script for the same document, model, prompt version, language and "
            "limits (kept in the job ledger, so every worker shares it)."
        ),
    )
    llm_cache_max_entries: int = Field(
        1000, ge=1, description="Most cached LLM scripts kept; the oldest go first."
    )
    budget_usd: float | None = Field(
        None,
        ge=0,
        description=(
            "Per-client LLM budget in USD over REELFLOW_SCRIPT__BUDGET_WINDOW_DAYS (an API key's "
            "own budget wins); a job that would exceed it fails with budget_exceeded before any "
            "LLM call. Unset: no budget."
        ),
    )
    budget_window_days: int = Field(
        30, ge=1, description="Days of a client's jobs whose LLM cost counts against its budget."
    )
