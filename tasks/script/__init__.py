"""Script stage: document sections -> slides (title + bullets) + narration, then validation.

``REELFLOW_SCRIPT__PROVIDER`` picks the writer: ``extractive`` (``extractive.py``, offline) or
``llm`` (``infra/llm``, an OpenAI-compatible endpoint); both go through the same validation.
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.jobs.models import DocumentInput, JobRequest, Script
from tasks.script.extractive import write_script
from tasks.stage import JobContext

__all__ = ["script_stage"]


@task(name="script", cache_policy=NO_CACHE)
def script_stage(ctx: JobContext, doc: DocumentInput, request: JobRequest) -> Script:
    cfg = ctx.settings.script
    with ctx.doing("llm" if cfg.provider == "llm" else "script"):
        return write_script(doc, request.language, cfg)
