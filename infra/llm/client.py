"""The optional LLM script provider: OpenAI-compatible chat completions.

``chat`` sends messages (infra/llm/prompts.py) to ``POST {base_url}/chat/completions`` (bearer
key, temperature 0, JSON mode) and returns the answer with its token usage; ``parse_slides`` reads
the slides out of it; ``request_slides`` is both in one call. The script stage (tasks/script/llm.py)
adds the cache, the one repair and the cost. Errors are translated here, cause kept:

- no connection, a timeout, 408 or 5xx      -> ``LLMUnavailable`` (retryable)
- 429                                       -> ``LLMRateLimited`` (retryable; Retry-After quoted)
- 401/403, and other 4xx                    -> ``ConfigError`` (key, model or URL is wrong)
- 413 or a context-length error, and a 200 whose content is not the expected JSON
                                            -> ``ScriptInvalid`` (the document or answer is)

The API key is sent only in the Authorization header: it is never logged and is blanked out of
any response text quoted in an error.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from infra.errors import (
    ConfigError,
    LLMRateLimited,
    LLMUnavailable,
    ReelflowError,
    ScriptInvalid,
)
from infra.jobs.models import DocumentInput, Slide
from infra.llm.prompts import build_messages
from infra.settings import ScriptSettings

__all__ = ["Completion", "build_messages", "chat", "parse_slides", "request_slides"]

log = logging.getLogger("reelflow.llm")

BODY_QUOTE_CHARS = 200
MAX_ANSWER_BYTES = 4 * 1024 * 1024  # a slides JSON is a few KB; more is a runaway answer
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


class _Answer(BaseModel):
    slides: list[Slide]


@dataclass(frozen=True)
class Completion:
    """One chat-completions answer: the raw body, its content and the tokens it was billed."""

    body: str
    content: str
    prompt_tokens: int
    completion_tokens: int


def request_slides(doc: DocumentInput, language: str, cfg: ScriptSettings) -> list[Slide]:
    """Ask the configured endpoint for the slides of ``doc``; raises the errors listed above."""
    return parse_slides(chat(build_messages(doc, language, cfg), cfg).body, cfg)


def chat(messages: list[dict[str, str]], cfg: ScriptSettings) -> Completion:
    """One chat-completions call; raises the errors listed above (never ScriptInvalid for a
    200 whose content is odd: that is the caller's to judge)."""
    key = cfg.llm_api_key.get_secret_value()
    payload = {
        "model": cfg.llm_model,
        "messages": messages,
        "temperature": 0,
        "response_format": {"type": "json_object"},
    }
    url = cfg.llm_base_url.rstrip("/") + "/chat/completions"
    log.info("asking %s (model %s) for a script", url, cfg.llm_model)
    too_slow = LLMUnavailable(
        f"the LLM provider at {url} did not answer within {cfg.llm_timeout_s:g} s "
        "(REELFLOW_SCRIPT__LLM_TIMEOUT_S)"
    )
    deadline = time.monotonic() + cfg.llm_timeout_s
    try:
        with (
            httpx.Client(timeout=cfg.llm_timeout_s) as client,
            client.stream(
                "POST", url, json=payload, headers={"Authorization": f"Bearer {key}"}
            ) as response,
        ):
            # httpx's timeout is per read: a trickling answer must still end by the deadline,
            # and a runaway one must not fill the memory.
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if time.monotonic() > deadline:
                    raise too_slow
                if len(body) > MAX_ANSWER_BYTES:
                    raise LLMUnavailable(
                        f"the LLM provider at {url} sent more than {MAX_ANSWER_BYTES} bytes"
                    )
            text = body.decode(response.encoding or "utf-8", errors="replace")
            if response.is_error or response.is_redirect:
                raise _status_error(response.status_code, response.headers, text, url, key)
    except httpx.TimeoutException as exc:
        raise too_slow from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise ConfigError(
            f"the LLM base URL {cfg.llm_base_url!r} is not a usable http(s) URL ({exc}); "
            "check REELFLOW_SCRIPT__LLM_BASE_URL"
        ) from exc
    except httpx.TransportError as exc:
        raise LLMUnavailable(f"cannot reach the LLM provider at {url}: {exc}") from exc
    return _completion(text)


def _completion(body: str) -> Completion:
    """The content and usage of a 200's body (content "" when the body is not a completion)."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        return Completion(body, "", 0, 0)
    content = ""
    with contextlib.suppress(KeyError, IndexError, TypeError):
        content = str(data["choices"][0]["message"]["content"] or "")
    usage = data.get("usage") if isinstance(data, dict) else None
    usage = usage if isinstance(usage, dict) else {}
    return Completion(
        body, content, _tokens(usage.get("prompt_tokens")), _tokens(usage.get("completion_tokens"))
    )


def _tokens(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _status_error(
    status: int, headers: httpx.Headers, text: str, url: str, key: str
) -> ReelflowError:
    """The error an answer with a failure (or redirect) status stands for."""
    body = (text.replace(key, "***") if key else text)[:BODY_QUOTE_CHARS]
    said = f"HTTP {status} from {url}: {body!r}"
    if status == 429:
        wait = headers.get("Retry-After")
        hint = f"; Retry-After: {wait}" if wait else ""
        return LLMRateLimited(f"the LLM provider is rate limiting ({said}){hint}")
    if status >= 500 or status == 408:
        return LLMUnavailable(f"the LLM provider failed ({said})")
    if status in (401, 403):
        return ConfigError(
            f"the LLM provider refused the API key ({said}); check REELFLOW_SCRIPT__LLM_API_KEY"
        )
    if status == 413 or "context_length" in text:
        return ScriptInvalid(
            f"the document is too long for the model ({said}); shorten it or lower "
            "REELFLOW_INPUT__MAX_TEXT_CHARS"
        )
    return ConfigError(
        f"the LLM provider rejected the request ({said}); check REELFLOW_SCRIPT__LLM_BASE_URL "
        "and REELFLOW_SCRIPT__LLM_MODEL"
    )


def parse_slides(body: str, cfg: ScriptSettings) -> list[Slide]:
    """The slides of a chat-completions answer, cut to the slide and bullet limits.

    Raises ScriptInvalid when the answer is not a completion whose content is the JSON object
    the prompt asked for.
    """
    try:
        choice = json.loads(body)["choices"][0]
        content = choice["message"]["content"]
        fenced = _FENCE.match(content.strip())
        answer = _Answer.model_validate_json(fenced.group(1) if fenced else content)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        cut = " (the answer was cut off at the model's output limit)" if _truncated(body) else ""
        detail = _first_problem(exc)
        raise ScriptInvalid(
            f"the LLM did not answer with the expected slides JSON{cut}: {detail}; "
            "try another REELFLOW_SCRIPT__LLM_MODEL or the extractive provider"
        ) from exc
    if not answer.slides:
        raise ScriptInvalid(
            "the LLM answered with no slides; try another REELFLOW_SCRIPT__LLM_MODEL"
        )
    return [
        Slide(
            title=s.title.strip(),
            bullets=[b.strip() for b in s.bullets if b.strip()][: cfg.max_bullets],
            narration=" ".join(s.narration.split()),
        )
        for s in answer.slides[: cfg.max_slides]
    ]


def _first_problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "the answer"
        return f"{where}: {error['msg']}"
    return f"{type(exc).__name__}: {exc}"


def _truncated(body: str) -> bool:
    try:
        data: Any = json.loads(body)
        return bool(data["choices"][0]["finish_reason"] == "length")
    except (ValueError, KeyError, IndexError, TypeError):
        return False
