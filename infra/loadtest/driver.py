"""The load itself: submitters, idle clients and a poller on one asyncio loop (httpx).

Submitters post a tiny Markdown upload each, paced to the profile's rate; a refusal that says
when to retry (429, 503) is counted by its code and retried after its ``Retry-After`` (at most
:data:`SUBMIT_ATTEMPTS` times). The poller lists the client's QUEUED and RUNNING jobs
(``GET /v1/jobs?status=``, a page of 100 at a time) and reads each job that left those lists
once, so polling costs O(active jobs / 100) requests a round, not one per job.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from infra.loadtest.profiles import LoadProfile, require_loopback

__all__ = ["TINY_DOCUMENT", "LoadRun", "TrackedJob", "run_loadtest"]

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELED"})
ACTIVE = ("QUEUED", "RUNNING")
SUBMIT_ATTEMPTS = 5
RETRY_AFTER_CAP_S = 10.0
POLL_S = 1.0
IDLE_EVERY_S = 5.0
# The cheapest job there is: one slide, one short sentence, preset tiny.
TINY_DOCUMENT = b"# Load\n\nReelflow turns this line into a short narrated video.\n"


@dataclass
class TrackedJob:
    job_id: str
    status: str = "QUEUED"
    error_code: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None

    def update(self, doc: dict[str, Any]) -> None:
        self.status = doc["status"]
        self.error_code = (doc.get("error") or {}).get("code")
        self.created_at = doc.get("created_at")
        self.started_at = doc.get("started_at")
        self.finished_at = doc.get("finished_at")


@dataclass
class LoadRun:
    """What the driver saw; :class:`~infra.loadtest.report.LoadReport` makes the numbers."""

    profile: LoadProfile
    url: str
    started_at: str = ""
    wall_s: float = 0.0
    jobs: dict[str, TrackedJob] = field(default_factory=dict)
    submit_latencies_s: list[float] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)
    not_submitted: int = 0
    idle_latencies_s: list[float] = field(default_factory=list)
    idle_errors: int = 0
    peak_rss: dict[str, int] = field(default_factory=dict)
    ledger_bytes: tuple[int | None, int | None] = (None, None)
    prefect_db_bytes: tuple[int | None, int | None] = (None, None)
    load_start: tuple[float, ...] = ()
    load_end: tuple[float, ...] = ()
    cpus: int = 0
    notes: list[str] = field(default_factory=list)

    def active(self) -> list[TrackedJob]:
        return [j for j in self.jobs.values() if j.status not in TERMINAL]


def _retry_after(answer: httpx.Response) -> float:
    try:
        return min(RETRY_AFTER_CAP_S, max(0.5, float(answer.headers.get("Retry-After", "1"))))
    except ValueError:
        return 1.0


def _code(answer: httpx.Response) -> str:
    try:
        return str(answer.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return f"http_{answer.status_code}"


class _Driver:
    def __init__(self, run: LoadRun, client: httpx.AsyncClient, preset: str) -> None:
        self.run = run
        self.client = client
        self.preset = preset
        self.next_index = 0
        self.started = time.monotonic()
        self.submitting = True

    async def submitter(self) -> None:
        profile = self.run.profile
        deadline = self.started + profile.submit_budget_s
        while self.next_index < profile.jobs:
            index = self.next_index
            self.next_index += 1
            if profile.rate_per_s:
                await asyncio.sleep(
                    max(0.0, self.started + index / profile.rate_per_s - time.monotonic())
                )
            if time.monotonic() > deadline:
                self.run.not_submitted += 1
                continue
            await self._submit_one(deadline)

    async def _submit_one(self, deadline: float) -> None:
        for _ in range(SUBMIT_ATTEMPTS):
            began = time.perf_counter()
            try:
                answer = await self.client.post(
                    "/v1/jobs",
                    files={"file": ("load.md", TINY_DOCUMENT, "text/markdown")},
                    data={"preset": self.preset},
                )
            except httpx.HTTPError as exc:
                self.run.refusals[f"transport_{type(exc).__name__}"] += 1
                await asyncio.sleep(1.0)
                continue
            self.run.submit_latencies_s.append(time.perf_counter() - began)
            if answer.status_code in (200, 202):
                doc = answer.json()
                job = TrackedJob(doc["id"])
                job.update(doc)
                self.run.jobs[job.job_id] = job
                return
            self.run.refusals[_code(answer)] += 1
            if answer.status_code not in (429, 503) or time.monotonic() > deadline:
                break
            await asyncio.sleep(_retry_after(answer))
        self.run.not_submitted += 1

    async def _list_active(self) -> set[str] | None:
        seen: set[str] = set()
        for status in ACTIVE:
            cursor: str | None = None
            while True:
                params = {
                    "status": status,
                    "limit": "100",
                    **({"cursor": cursor} if cursor else {}),
                }
                try:
                    answer = await self.client.get("/v1/jobs", params=params)
                except httpx.HTTPError:
                    return None
                if answer.status_code != 200:
                    return None
                body = answer.json()
                seen.update(doc["id"] for doc in body["jobs"])
                cursor = body.get("next_cursor")
                if not cursor:
                    break
        return seen

    async def _read(self, job: TrackedJob) -> None:
        with contextlib.suppress(httpx.HTTPError):
            answer = await self.client.get(f"/v1/jobs/{job.job_id}")
            if answer.status_code == 200:
                job.update(answer.json())

    async def poller(self, drain_deadline: list[float]) -> None:
        while self.submitting or (self.run.active() and time.monotonic() < drain_deadline[0]):
            await asyncio.sleep(POLL_S)
            active = await self._list_active()
            if active is None:
                continue
            for job in self.run.active():
                if job.job_id not in active:
                    await self._read(job)
        for job in self.run.active():  # the last word on the jobs still open
            await self._read(job)

    async def idle_client(self, url: str, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False) as client:
            while not stop.is_set():
                began = time.perf_counter()
                try:
                    answer = await client.get("/healthz")
                    if answer.status_code == 200:
                        self.run.idle_latencies_s.append(time.perf_counter() - began)
                    else:
                        self.run.idle_errors += 1
                except httpx.HTTPError:
                    self.run.idle_errors += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), IDLE_EVERY_S)


async def _drive(run: LoadRun, key: str, preset: str) -> None:
    profile = run.profile
    limits = httpx.Limits(
        max_connections=profile.clients + 2, max_keepalive_connections=profile.clients + 2
    )
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(
        base_url=run.url, headers=headers, timeout=300, limits=limits, trust_env=False
    ) as client:
        driver = _Driver(run, client, preset)
        stop_idle = asyncio.Event()
        idle = [
            asyncio.create_task(driver.idle_client(run.url, stop_idle))
            for _ in range(profile.idle_clients)
        ]
        drain_deadline = [float("inf")]
        poller = asyncio.create_task(driver.poller(drain_deadline))
        try:
            await asyncio.gather(*(driver.submitter() for _ in range(profile.clients)))
            drain_deadline[0] = time.monotonic() + profile.drain_s
            driver.submitting = False
            await poller
        finally:
            stop_idle.set()
            poller.cancel()
            await asyncio.gather(*idle, poller, return_exceptions=True)


def run_loadtest(url: str, key: str, profile: LoadProfile, *, preset: str = "tiny") -> LoadRun:
    """Drive ``url`` (loopback only) with ``profile``; returns what was seen. Resource sampling
    and database sizes are the caller's (:mod:`infra.loadtest.resources`)."""
    run = LoadRun(profile=profile, url=require_loopback(url))
    run.started_at = datetime.now(UTC).isoformat(timespec="seconds")
    run.cpus = os.cpu_count() or 0
    run.load_start = tuple(round(x, 2) for x in os.getloadavg())
    began = time.monotonic()
    asyncio.run(_drive(run, key, preset))
    run.wall_s = time.monotonic() - began
    run.load_end = tuple(round(x, 2) for x in os.getloadavg())
    return run
