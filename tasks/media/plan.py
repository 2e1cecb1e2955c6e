"""Plan stage: the ladder, frame rate, sizes and audio target of a media job, from its facts.

One source -> :func:`infra.media.plan.plan_media`; several -> a timeline plan
(:func:`infra.media.timeline.plan_timeline`), every part normalised to one canvas.
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.errors import InputInvalid
from infra.jobs.models import JobRequest
from infra.media.plan import MediaPlan, plan_media
from infra.media.presets import MEDIA_PRESETS
from infra.media.timeline import plan_timeline
from infra.settings import MediaSettings
from tasks.media.probe import MediaInputs, MediaSource
from tasks.stage import JobContext

__all__ = ["plan_job", "plan_stage"]


def plan_job(
    sources: list[MediaSource], preset: str, segment_s: int, cfg: MediaSettings
) -> MediaPlan:
    """The plan of ``sources`` with ``preset`` (an allowlisted name)."""
    ladder = MEDIA_PRESETS.get(preset)
    if ladder is None:
        raise InputInvalid(f"preset {preset[:20]!r} is not one of {', '.join(MEDIA_PRESETS)}")
    if len(sources) > 1:
        return plan_timeline(
            [(s.name, s.facts) for s in sources],
            ladder,
            segment_s=segment_s,
            settings=cfg,
            crossfade_s=cfg.crossfade_s,
        )
    return plan_media(
        sources[0].facts, ladder, name=sources[0].name, segment_s=segment_s, settings=cfg
    )


@task(name="plan", cache_policy=NO_CACHE)
def plan_stage(ctx: JobContext, inputs: MediaInputs, request: JobRequest) -> MediaPlan:
    settings = ctx.settings
    preset = request.preset or settings.media.default_preset
    return plan_job(inputs.sources, preset, settings.render.hls_segment_s, settings.media)
