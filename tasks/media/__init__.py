"""The media job's own stages: probe (facts and input checks), plan, encode (HLS, MP4, pictures)."""

from tasks.media.encode import encode_stage
from tasks.media.plan import plan_stage
from tasks.media.probe import MediaInputs, MediaSource, media_probe_stage

__all__ = ["MediaInputs", "MediaSource", "encode_stage", "media_probe_stage", "plan_stage"]
