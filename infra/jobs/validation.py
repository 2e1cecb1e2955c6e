"""Check a request against the operator's configuration and fill its defaults, before any work.

Pydantic has already checked each field's shape (``infra/jobs/models.py``); what needs settings or
the machine is checked here, in the job service at submit time (a fast refusal with its code) and
again by the flow for runs started elsewhere (the Prefect UI, an automation).
"""

from __future__ import annotations

from infra.jobs.limits import effective_limits
from infra.jobs.models import JobRequest
from infra.media.voices import check_voice
from infra.settings import Settings

__all__ = ["validate_request"]


def validate_request(request: JobRequest, settings: Settings) -> JobRequest:
    """``request`` with its preset filled from settings; raises InputInvalid for limits above the
    operator's or a voice espeak-ng does not list."""
    effective_limits(request.limits, settings)
    if request.voice is not None:
        check_voice(request.voice, settings.render.espeak_bin)
    return request.model_copy(update={"preset": request.preset or settings.render.default_preset})
