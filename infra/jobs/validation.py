"""Check a request against the operator's configuration and fill its defaults, before any work.

Pydantic has already checked each field's shape (``infra/jobs/models.py``); what needs settings or
the machine is checked here, in the job service at submit time (a fast refusal with its code) and
again by the flow for runs started elsewhere (the Prefect UI, an automation).
"""

from __future__ import annotations

from infra.jobs.limits import effective_limits
from infra.jobs.models import JobRequest
from infra.settings import Settings
from infra.tts.choice import check_engine_voice

__all__ = ["validate_request"]


def validate_request(request: JobRequest, settings: Settings) -> JobRequest:
    """``request`` with its preset filled from settings; raises InputInvalid for limits above the
    operator's or a voice its engine may not use (infra/tts/choice.py)."""
    effective_limits(request.limits, settings)
    check_engine_voice(request.engine, request.voice, settings.tts, settings.render.espeak_bin)
    return request.model_copy(update={"preset": request.preset or settings.render.default_preset})
