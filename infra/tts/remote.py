"""A remote OpenAI-compatible speech provider: ``POST {base_url}/audio/speech``.

The request is ``{"model", "input", "voice", "response_format"}`` with a bearer key; the answer's
bytes are the audio, converted by ffmpeg (through the process runner) into the WAV format the
render joins. The base URL passes the SSRF rules (infra/net): https, or a host the operator allowed
in ``REELFLOW_NET__ALLOW_HOSTS``; the connection goes to the checked address.

Errors, as the LLM client's (infra/llm/client.py), cause kept:

- no connection, a timeout, 408, 429 or 5xx  -> retried ``remote_retries`` times (backoff with
  jitter; a Retry-After up to 30 s wins), then ``TTSUnavailable`` (``tts_unavailable``, retryable)
- 401/403, 404 and other 4xx                  -> ``ConfigError`` (key, model, voice or URL)
- 400/422 naming the input, 413               -> ``TTSFailed`` (the text cannot be spoken)
- a 200 that is not audio ffmpeg can read     -> ``TTSFailed``
- the base URL refused by the SSRF rules      -> ``UrlRefused`` (``url_refused``)

The key is never logged and is blanked out of any quoted answer.
"""

from __future__ import annotations

import logging
import random
import time
import wave
from pathlib import Path

import httpx

from infra.errors import ConfigError, ReelflowError, TTSFailed, TTSUnavailable
from infra.media.slideshow import speech_wav_argv
from infra.net.fetch import open_checked
from infra.net.ssrf import CheckedURL, check_url
from infra.process.runner import Deadlines, ProcessGuard, atomic_outputs, run_process
from infra.settings.net import NetSettings
from infra.settings.tts import TTSSettings

__all__ = ["speak_remote", "speech_request"]

log = logging.getLogger("reelflow.tts.remote")
QUOTE_CHARS = 200
MAX_RETRY_AFTER_S = 30.0


def speech_request(text: str, voice: str, cfg: TTSSettings) -> dict[str, str]:
    return {
        "model": cfg.remote_model,
        "input": text,
        "voice": voice,
        "response_format": cfg.remote_format,
    }


def speak_remote(
    text: str,
    wav: Path,
    *,
    voice: str,
    cfg: TTSSettings,
    net: NetSettings,
    ffmpeg: str,
    rate_hz: int,
    deadlines: Deadlines,
    guard: ProcessGuard | None = None,
) -> float:
    """Speak ``text`` into ``wav`` through the provider; returns its duration (errors above)."""
    raw = wav.with_suffix(f".remote.{cfg.remote_format}")
    try:
        raw.write_bytes(_fetch_audio(text, voice, cfg, net))
        with atomic_outputs(wav) as (tmp,):
            try:
                run_process(
                    speech_wav_argv(ffmpeg, raw, tmp, rate_hz),
                    deadlines=deadlines,
                    ffmpeg_progress=True,
                    guard=guard,
                    error=TTSFailed,
                )
            except TTSFailed as exc:
                raise TTSFailed(
                    "the remote voice provider's answer is not audio ffmpeg can read: "
                    f"{exc.message}"
                ) from exc
            with wave.open(str(tmp), "rb") as out:
                duration = out.getnframes() / float(out.getframerate())
    except (wave.Error, EOFError) as exc:
        raise TTSFailed("the remote provider's audio converted to an unreadable WAV") from exc
    finally:
        raw.unlink(missing_ok=True)
    if duration <= 0:
        raise TTSFailed("the remote voice provider returned no audio")
    return duration


def _fetch_audio(text: str, voice: str, cfg: TTSSettings, net: NetSettings) -> bytes:
    url = cfg.remote_base_url.rstrip("/") + "/audio/speech"
    checked = check_url(url, net.allow_hosts, what="remote voice provider URL")
    attempt = 0
    while True:
        try:
            return _post_once(checked, text, voice, cfg, net)
        except TTSUnavailable as exc:
            if attempt >= cfg.remote_retries:
                raise
            delay = exc.retry_after_s
            if delay is None:
                delay = cfg.remote_backoff_s * 2**attempt * (0.5 + random.random())
            attempt += 1
            log.warning("remote speech failed (%s); retry %d in %.1fs", exc.message, attempt, delay)
            time.sleep(min(delay, MAX_RETRY_AFTER_S))


def _post_once(
    checked: CheckedURL, text: str, voice: str, cfg: TTSSettings, net: NetSettings
) -> bytes:
    key = cfg.remote_api_key.get_secret_value()
    url = checked.url
    connect = min(net.connect_timeout_s, cfg.remote_timeout_s)
    timeout = httpx.Timeout(cfg.remote_timeout_s, connect=connect)
    deadline = time.monotonic() + cfg.remote_timeout_s
    too_slow = TTSUnavailable(
        f"the remote voice provider at {url} did not answer within {cfg.remote_timeout_s:g} s "
        "(REELFLOW_TTS__REMOTE_TIMEOUT_S)"
    )
    try:
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            response = open_checked(
                client,
                checked,
                "POST",
                json=speech_request(text, voice, cfg),
                headers={"Authorization": f"Bearer {key}"},
            )
            try:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if time.monotonic() > deadline:
                        raise too_slow
                    if len(body) > cfg.remote_max_bytes:
                        raise TTSFailed(
                            f"the remote voice provider sent more than {cfg.remote_max_bytes} "
                            "bytes for one slide (REELFLOW_TTS__REMOTE_MAX_BYTES)"
                        )
                if response.status_code != 200:
                    raise _status_error(response, bytes(body), url, key)
                return bytes(body)
            finally:
                response.close()
    except httpx.TimeoutException as exc:
        raise too_slow from exc
    except httpx.TransportError as exc:
        raise TTSUnavailable(f"cannot reach the remote voice provider at {url}: {exc}") from exc


def _status_error(response: httpx.Response, body: bytes, url: str, key: str) -> ReelflowError:
    status = response.status_code
    text = body.decode("utf-8", "replace")
    text = (text.replace(key, "***") if key else text)[:QUOTE_CHARS]
    said = f"HTTP {status} from {url}: {text!r}"
    if status == 429 or status == 408 or status >= 500:
        error = TTSUnavailable(f"the remote voice provider is unavailable ({said})")
        wait = response.headers.get("Retry-After", "")
        if status == 429 and wait.strip().isdigit():
            error.retry_after_s = float(wait.strip())
        return error
    if status in (401, 403):
        return ConfigError(
            f"the remote voice provider refused the API key ({said}); check "
            "REELFLOW_TTS__REMOTE_API_KEY"
        )
    if status == 413 or (status in (400, 422) and "input" in text.lower()):
        return TTSFailed(f"the remote voice provider cannot speak this text ({said})")
    return ConfigError(
        f"the remote voice provider rejected the request ({said}); check "
        "REELFLOW_TTS__REMOTE_BASE_URL, REELFLOW_TTS__REMOTE_MODEL and the voice"
    )
