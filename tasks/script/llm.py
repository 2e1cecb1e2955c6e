"""The LLM script writer: cache, budget, one call, one repair, usage.

1. The cache (infra/store/script_cache.py) is asked first: a hit makes no LLM call and costs 0.
2. The client's budget is checked before every call (``budget_exceeded``).
3. The answer is parsed and validated like an extractive script; an invalid one is sent back once
   with what is wrong (infra/llm/prompts.py), and a second invalid answer is ``script_invalid``.
4. Every call's tokens go to ``on_usage`` as they are billed, so a failed job's cost is recorded
   too; a validated script is cached.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.errors import ScriptInvalid
from infra.jobs.models import DocumentInput, Script
from infra.llm.client import Completion, chat, parse_slides
from infra.llm.prompts import PROMPT_VERSION, build_messages, repair_messages
from infra.llm.usage import LLMUsage, estimate_cost_usd
from infra.settings import ScriptSettings
from infra.settings.narration import NarrationSettings
from infra.store.script_cache import ScriptCache, cache_key

__all__ = ["llm_script", "script_cache_key"]

UsageSink = Callable[[dict[str, Any]], None]
BudgetCheck = Callable[[float], None]


def script_cache_key(doc: DocumentInput, language: str, cfg: ScriptSettings) -> str:
    return cache_key(
        document_sha256=doc.sha256,
        model=cfg.llm_model,
        base_url=cfg.llm_base_url,
        prompt_version=PROMPT_VERSION,
        language=language,
        options={
            "max_words": cfg.max_words,
            "max_slides": cfg.max_slides,
            "max_bullets": cfg.max_bullets,
        },
    )


def llm_script(
    doc: DocumentInput,
    language: str,
    cfg: ScriptSettings,
    narration: NarrationSettings,
    *,
    to_script: Callable[[Any], Script],
    validate: Callable[[Script], Script],
    cache: ScriptCache | None = None,
    budget: BudgetCheck | None = None,
    on_usage: UsageSink | None = None,
) -> Script:
    """The validated LLM script of ``doc`` (see the module docstring).

    ``to_script`` turns slides into a Script; ``validate`` raises ScriptInvalid (both from
    tasks/script/extractive.py, so the two writers share one validation).
    """
    del narration  # the validation carries it
    usage = LLMUsage(model=cfg.llm_model, cache="miss" if cache and cfg.llm_cache else "off")
    key = script_cache_key(doc, language, cfg)
    if cache is not None and cfg.llm_cache:
        hit = cache.get(key)
        if hit is not None:
            usage.cache = "hit"
            if on_usage is not None:
                on_usage(usage.as_dict(cfg))
            return Script.model_validate(hit.script)

    def call(messages: list[dict[str, str]]) -> Completion:
        if budget is not None:
            budget(estimate_cost_usd(messages, cfg))
        completion = chat(messages, cfg)
        usage.add(completion)
        if on_usage is not None:
            on_usage(usage.as_dict(cfg))
        return completion

    messages = build_messages(doc, language, cfg)
    completion = call(messages)
    try:
        script = validate(to_script(parse_slides(completion.body, cfg)))
    except ScriptInvalid as first:
        answer = completion.content or completion.body
        again = call(repair_messages(messages, answer, first.message))
        try:
            script = validate(to_script(parse_slides(again.body, cfg)))
        except ScriptInvalid as second:
            raise ScriptInvalid(f"{second.message} (also after one repair request)") from second
    if cache is not None and cfg.llm_cache:
        cache.put(key, script.model_dump(), usage.as_dict(cfg))
    return script
