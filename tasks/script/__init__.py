"""Script stage: document sections -> slides (title + bullets) + narration, then validation.

``REELFLOW_SCRIPT__PROVIDER`` picks the writer: ``extractive`` (``extractive.py``, offline) or
``llm`` (``llm.py`` over ``infra/llm``, an OpenAI-compatible endpoint: cached in the ledger,
budgeted per client, costed per job); both go through the same validation.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.jobs.budget import check_budget
from infra.jobs.models import DocumentInput, JobRequest, Script
from infra.store.script_cache import ScriptCache
from tasks.script.extractive import write_script
from tasks.stage import JobContext

__all__ = ["script_stage"]

_SUMMED = ("llm_calls", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd")


@task(name="script", cache_policy=NO_CACHE)
def script_stage(ctx: JobContext, doc: DocumentInput, request: JobRequest) -> Script:
    cfg = ctx.settings.script
    if cfg.provider != "llm":
        with ctx.doing("script"):
            return write_script(doc, request.language, cfg)
    job = ctx.ledger.get(ctx.job_id)
    client = job.client if job is not None else request.client
    before: dict[str, Any] = dict(job.usage or {}) if job is not None else {}

    def record(usage: dict[str, Any]) -> None:
        # A retried stage adds to what earlier attempts were billed.
        total = {**usage}
        for name in _SUMMED:
            total[name] = round(float(before.get(name) or 0) + float(usage.get(name) or 0), 6)
            if name != "cost_usd":
                total[name] = int(total[name])
        ctx.ledger.record_usage(ctx.job_id, total)

    with ctx.doing("llm"):
        return write_script(
            doc,
            request.language,
            cfg,
            cache=ScriptCache(ctx.ledger, cfg.llm_cache_max_entries),
            budget=lambda estimate: check_budget(ctx.ledger, client, cfg, estimate),
            on_usage=record,
        )
