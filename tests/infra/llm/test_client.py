"""The LLM script provider against a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from infra.errors import (
    ConfigError,
    LLMRateLimited,
    LLMUnavailable,
    ReelflowError,
    ScriptInvalid,
)
from infra.jobs.models import DocumentInput, Slide
from infra.llm.client import request_slides
from infra.settings import ScriptSettings, Settings, get_settings
from tests.conftest import LLM_TEST_KEY, free_port
from tests.support.llm_double import GOOD_SLIDES, LLMDouble, Reply, chat_completion, script_reply

DOC = DocumentInput(
    path="doc.md",
    doc_type="markdown",
    sha256="0" * 64,
    size=1,
    text="",
    sections=[("Why", "Jobs should never get stuck."), ("How", "- probe\n- render")],
)


def _failure(cfg: ScriptSettings) -> ReelflowError:
    """The error ``request_slides`` raises; neither it nor its causes show the API key."""
    with pytest.raises(ReelflowError) as info:
        request_slides(DOC, "en", cfg)
    err: BaseException | None = info.value
    while err is not None:
        assert LLM_TEST_KEY not in f"{err} {err!r}"
        err = err.__cause__
    return info.value


def _echoing_key(status: int, **headers: str) -> Reply:
    """An error answer that quotes the key back, as some providers do."""
    return Reply(status, {"error": {"message": f"bad request from key {LLM_TEST_KEY}"}}, headers)


def test_good_answer_gives_the_slides_and_sends_the_request_the_api_expects(
    llm_settings: Settings, llm_double: LLMDouble
):
    slides = request_slides(DOC, "en", llm_settings.script)
    assert slides == [Slide.model_validate(s) for s in GOOD_SLIDES]
    assert llm_double.calls == 1
    sent = llm_double.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.bearer == LLM_TEST_KEY
    assert sent.body["model"] == "double-model"
    assert sent.body["temperature"] == 0
    assert sent.body["response_format"] == {"type": "json_object"}
    system, user = sent.body["messages"]
    assert (system["role"], user["role"]) == ("system", "user")
    assert "at most 20 slides" in system["content"] and "'en'" in system["content"]
    assert "## Why\nJobs should never get stuck." in user["content"]


def test_answer_is_cut_to_the_slide_and_bullet_limits(
    llm_settings: Settings, llm_double: LLMDouble
):
    cfg = llm_settings.script.model_copy(update={"max_slides": 2, "max_bullets": 1})
    slide = {"title": " T ", "bullets": ["a", " ", "b"], "narration": "Some  words\nhere."}
    llm_double.respond(script_reply([slide] * 3))
    slides = request_slides(DOC, "en", cfg)
    assert slides == [Slide(title="T", bullets=["a"], narration="Some words here.")] * 2


def test_json_in_a_code_fence_is_accepted(llm_settings: Settings, llm_double: LLMDouble):
    fenced = "```json\n" + json.dumps({"slides": GOOD_SLIDES}) + "\n```"
    llm_double.respond(Reply(body=chat_completion(fenced)))
    assert len(request_slides(DOC, "en", llm_settings.script)) == len(GOOD_SLIDES)


def test_429_is_rate_limited_and_retryable(llm_settings: Settings, llm_double: LLMDouble):
    llm_double.respond(_echoing_key(429, **{"Retry-After": "7"}))
    err = _failure(llm_settings.script)
    assert isinstance(err, LLMRateLimited) and err.retryable
    assert str(err).startswith("[llm_rate_limited]") and "Retry-After: 7" in str(err)


@pytest.mark.parametrize("status", [408, 500, 502, 503])
def test_408_and_5xx_are_unavailable_and_retryable(
    llm_settings: Settings, llm_double: LLMDouble, status: int
):
    llm_double.respond(_echoing_key(status))
    err = _failure(llm_settings.script)
    assert isinstance(err, LLMUnavailable) and err.retryable
    assert str(err).startswith("[llm_unavailable]") and f"HTTP {status}" in str(err)


def test_connection_refused_is_unavailable(llm_settings: Settings):
    cfg = llm_settings.script.model_copy(update={"llm_base_url": f"http://127.0.0.1:{free_port()}"})
    err = _failure(cfg)
    assert isinstance(err, LLMUnavailable) and err.retryable
    assert "cannot reach the LLM provider" in str(err)


def test_no_answer_within_the_timeout_is_unavailable(llm_settings: Settings, llm_double: LLMDouble):
    llm_double.respond(script_reply(delay_s=30))  # stop() releases it when the test ends
    err = _failure(llm_settings.script.model_copy(update={"llm_timeout_s": 0.3}))
    assert isinstance(err, LLMUnavailable) and err.retryable
    assert "did not answer within 0.3 s" in str(err)


def test_a_trickling_answer_still_ends_by_the_deadline(
    llm_settings: Settings, llm_double: LLMDouble
):
    """Each byte comes well within httpx's per-read timeout; the whole answer does not."""
    reply = script_reply()
    reply.trickle_s = 0.05
    llm_double.respond(reply)
    err = _failure(llm_settings.script.model_copy(update={"llm_timeout_s": 1.0}))
    assert isinstance(err, LLMUnavailable) and err.retryable
    assert "did not answer within 1 s" in str(err)


@pytest.mark.parametrize("url", ["127.0.0.1:11434/v1", "ftp://127.0.0.1/v1", "http://[::1/v1"])
def test_a_base_url_that_is_not_http_is_config_error(llm_settings: Settings, url: str):
    err = _failure(llm_settings.script.model_copy(update={"llm_base_url": url}))
    assert isinstance(err, ConfigError) and not err.retryable
    assert "REELFLOW_SCRIPT__LLM_BASE_URL" in str(err)


@pytest.mark.parametrize("status", [401, 403])
def test_refused_key_is_config_error_and_not_retried(
    llm_settings: Settings, llm_double: LLMDouble, status: int
):
    llm_double.respond(_echoing_key(status))
    err = _failure(llm_settings.script)
    assert isinstance(err, ConfigError) and not err.retryable
    assert "REELFLOW_SCRIPT__LLM_API_KEY" in str(err) and "***" in str(err)


def test_other_4xx_is_config_error_with_status_and_body(
    llm_settings: Settings, llm_double: LLMDouble
):
    llm_double.respond(Reply(404, {"error": {"message": "model 'double-model' not found"}}))
    err = _failure(llm_settings.script)
    assert isinstance(err, ConfigError) and not err.retryable
    assert "HTTP 404" in str(err) and "not found" in str(err)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(413, "request entity too large"),
        Reply(400, {"error": {"code": "context_length_exceeded", "message": "too long"}}),
    ],
    ids=["413", "context-length"],
)
def test_document_too_long_for_the_model_is_script_invalid(
    llm_settings: Settings, llm_double: LLMDouble, reply: Reply
):
    llm_double.respond(reply)
    err = _failure(llm_settings.script)
    assert isinstance(err, ScriptInvalid) and not err.retryable
    assert "too long for the model" in str(err)


MALFORMED = {
    "not-json": Reply(body=chat_completion("Here is your script: slide one...")),
    "wrong-shape": Reply(body=chat_completion(json.dumps({"pages": []}))),
    "no-narration": Reply(body=chat_completion(json.dumps({"slides": [{"title": "T"}]}))),
    "bullets-not-a-list": Reply(
        body=chat_completion(
            json.dumps({"slides": [{"title": "T", "bullets": "x", "narration": "n"}]})
        )
    ),
    "no-choices": Reply(body={"choices": []}),
    "html-body": Reply(body="<html>gateway says hello</html>"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_answer_is_script_invalid(
    llm_settings: Settings, llm_double: LLMDouble, case: str
):
    llm_double.respond(MALFORMED[case])
    err = _failure(llm_settings.script)
    assert isinstance(err, ScriptInvalid) and not err.retryable
    assert "did not answer with the expected slides JSON" in str(err)


def test_answer_cut_off_at_the_output_limit_says_so(llm_settings: Settings, llm_double: LLMDouble):
    llm_double.respond(Reply(body=chat_completion('{"slides": [{"tit', finish_reason="length")))
    err = _failure(llm_settings.script)
    assert isinstance(err, ScriptInvalid) and "cut off at the model's output limit" in str(err)


def test_no_slides_is_script_invalid(llm_settings: Settings, llm_double: LLMDouble):
    llm_double.respond(script_reply([]))
    assert "no slides" in str(_failure(llm_settings.script))


def test_production_refuses_a_placeholder_llm_key(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("REELFLOW_ENV", "production")
    monkeypatch.setenv("REELFLOW_SCRIPT__PROVIDER", "llm")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="REELFLOW_SCRIPT__LLM_API_KEY is a placeholder"):
        get_settings()
    monkeypatch.setenv("REELFLOW_SCRIPT__LLM_API_KEY", LLM_TEST_KEY)
    get_settings.cache_clear()
    assert get_settings().script.llm_api_key == SecretStr(LLM_TEST_KEY)
    assert LLM_TEST_KEY not in repr(get_settings())


def test_extractive_provider_needs_no_llm_key_in_production(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("REELFLOW_ENV", "production")
    get_settings.cache_clear()
    assert get_settings().script.provider == "extractive"
