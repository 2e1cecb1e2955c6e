"""The LLM script path against the OpenAI-compatible HTTP double: the one repair, the cache in the
ledger (a second identical request makes no call), usage priced from the table, the budget."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.errors import BudgetExceeded, ScriptInvalid
from infra.jobs.budget import check_budget
from infra.jobs.models import DocumentInput
from infra.settings import Settings
from infra.settings.script import LLMPrice
from infra.store.schema import Job
from infra.store.script_cache import ScriptCache
from tasks.script.extractive import write_script
from tests.support.ledgers import ledger
from tests.support.llm_double import GOOD_SLIDES, LLMDouble, Reply, chat_completion

SECTIONS = [("Why", "Reelflow turns documents into videos. It runs unattended.")]


def _doc(sha: str = "a" * 64) -> DocumentInput:
    return DocumentInput(path="x", doc_type="text", sha256=sha, size=1, text="", sections=SECTIONS)


def _priced(settings: Settings) -> Settings:
    settings.script.llm_prices = {
        "double-model": LLMPrice(prompt_per_mtok=2.0, completion_per_mtok=8.0)
    }
    return settings


def _billed(prompt: int, completion: int) -> Reply:
    body = chat_completion(json.dumps({"slides": GOOD_SLIDES}))
    body["usage"] = {"prompt_tokens": prompt, "completion_tokens": completion}
    return Reply(body=body)


def test_an_invalid_answer_is_repaired_once(llm_settings: Settings, llm_double: LLMDouble):
    llm_double.respond(Reply(body=chat_completion("Sure! Here are your slides.")))
    script = write_script(_doc(), "en", llm_settings.script)
    assert [s.title for s in script.slides] == [s["title"] for s in GOOD_SLIDES]
    assert llm_double.calls == 2
    repair = llm_double.requests[1].body["messages"]
    assert repair[-2] == {"role": "assistant", "content": "Sure! Here are your slides."}
    assert "cannot be used" in repair[-1]["content"] and '"slides"' in repair[-1]["content"]


def test_two_invalid_answers_are_script_invalid(llm_settings: Settings, llm_double: LLMDouble):
    llm_double.default = Reply(body=chat_completion("no JSON here"))
    with pytest.raises(ScriptInvalid, match="after one repair") as caught:
        write_script(_doc(), "en", llm_settings.script)
    assert caught.value.code == "script_invalid"
    assert llm_double.calls == 2


def test_a_second_identical_request_is_served_from_the_cache(
    llm_settings: Settings, llm_double: LLMDouble
):
    cfg = _priced(llm_settings).script
    cache = ScriptCache(ledger(), cfg.llm_cache_max_entries)
    usages: list[dict[str, Any]] = []
    llm_double.respond(_billed(1200, 300))
    first = write_script(_doc(), "en", cfg, cache=cache, on_usage=usages.append)
    assert llm_double.calls == 1
    assert usages[-1]["script_cache"] == "miss"
    assert (usages[-1]["prompt_tokens"], usages[-1]["completion_tokens"]) == (1200, 300)
    assert usages[-1]["cost_usd"] == pytest.approx((1200 * 2.0 + 300 * 8.0) / 1e6)
    assert usages[-1]["priced"] is True

    second = write_script(_doc(), "en", cfg, cache=cache, on_usage=usages.append)
    assert llm_double.calls == 1  # no LLM call
    assert second == first
    assert usages[-1] | {"llm_calls": 0} == usages[-1]
    assert (usages[-1]["script_cache"], usages[-1]["cost_usd"]) == ("hit", 0.0)

    # Another document, language or model is another key.
    write_script(_doc("b" * 64), "en", cfg, cache=cache)
    write_script(_doc(), "fr", cfg, cache=cache)
    assert llm_double.calls == 3
    assert cache.count() == 3


def test_the_cache_is_bounded(llm_settings: Settings, llm_double: LLMDouble):
    cache = ScriptCache(ledger(), max_entries=2)
    for sha in ("1", "2", "3"):
        write_script(_doc(sha * 64), "en", llm_settings.script, cache=cache)
    assert cache.count() == 2
    write_script(_doc("3" * 64), "en", llm_settings.script, cache=cache)  # newest kept: a hit
    assert llm_double.calls == 3
    write_script(_doc("1" * 64), "en", llm_settings.script, cache=cache)  # oldest gone: a call
    assert llm_double.calls == 4


def test_an_unpriced_model_costs_zero_and_says_so(llm_settings: Settings, llm_double: LLMDouble):
    usages: list[dict[str, Any]] = []
    llm_double.respond(_billed(100, 50))
    write_script(_doc(), "en", llm_settings.script, on_usage=usages.append)
    assert usages[-1]["cost_usd"] == 0.0 and usages[-1]["priced"] is False
    assert usages[-1]["total_tokens"] == 150


def test_a_spent_budget_refuses_before_any_llm_call(llm_settings: Settings, llm_double: LLMDouble):
    cfg = _priced(llm_settings).script
    cfg.budget_usd = 0.01
    jobs = ledger()
    jobs.claim_job("old-job", flow_run_id=None, client="acme")
    jobs.record_usage("old-job", {"cost_usd": 0.0099})
    jobs.claim_job("other-client", flow_run_id=None, client="other")
    jobs.record_usage("other-client", {"cost_usd": 5.0})

    def budget(estimate: float) -> None:
        check_budget(jobs, "acme", cfg, estimate)

    with pytest.raises(BudgetExceeded, match="acme") as caught:
        write_script(_doc(), "en", cfg, budget=budget)
    assert caught.value.code == "budget_exceeded"
    assert llm_double.calls == 0
    # Another client's spending does not count against acme's; with room left the job runs.
    cfg.budget_usd = 1.0
    write_script(_doc(), "en", cfg, budget=budget)
    assert llm_double.calls == 1
    assert jobs.get("old-job").usage == {"cost_usd": 0.0099}
    assert isinstance(jobs.get("old-job"), Job)


def test_an_api_keys_own_budget_wins(llm_settings: Settings):
    from typer.testing import CliRunner

    from cli.main import app

    cfg = _priced(llm_settings).script
    cfg.budget_usd = 100.0
    made = CliRunner().invoke(app, ["keys", "create", "tight", "--budget-usd", "0"])
    assert made.exit_code == 0, made.output
    jobs = ledger()
    with pytest.raises(BudgetExceeded):
        check_budget(jobs, "tight", cfg, 0.001)
    check_budget(jobs, "roomy", cfg, 0.001)  # no key of that name: the setting's budget
