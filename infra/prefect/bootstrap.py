"""One-time, repeatable set-up of the Prefect objects and the bucket reelflow runs on.

Why: the work pools, the job concurrency limit and two safety-net automations must exist before
workers start, and deployments can only be registered once their pools exist. Contract of
:func:`bootstrap`: it creates what is missing and never duplicates what exists, so it can run at
every deploy; it returns ``{"created": [...], "existing": [...], "updated": [...], ...}``. Two
things are always brought to what the settings say, because they are security and capacity
controls: the Docker pool's locked base job template (``infra/prefect/docker_template.py``) and
the job limit's size. With ``project_dir`` it then registers prefect.yaml's deployments and binds
every job deployment to the job limit (``infra/prefect/deploy.py``). A pool of the wrong type or
an uninstalled worker type raises ConfigError.

Pitfalls (Prefect 3.8.8):

- ``heartbeat_s`` must be the workers' ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` (Prefect's default
  180 s, floor 30 s): a window shorter than the real interval crashes healthy runs.
- The automations set Crashed with ``force=False``; Prefect refuses Crashed for a run already in a
  terminal state, so a late or lost event never crashes a finished run.
- A proactive trigger fires one to two windows after the last event (it is evaluated once per
  window). Automation names are not unique: run bootstrap from one place, not concurrently.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from infra.errors import ConfigError
from infra.prefect.client import PRIORITY_QUEUES
from infra.prefect.deploy import attach_job_limit, deploy_all, detach_job_limit
from infra.prefect.docker_template import docker_base_job_template
from infra.settings import Settings
from infra.store.artifacts import S3Store

__all__ = [
    "HEARTBEAT_AUTOMATION",
    "JOB_FINISHED_EVENT",
    "WEBHOOK_AUTOMATION",
    "JOB_CONCURRENCY_LIMIT",
    "JOB_POOLS",
    "PENDING_AUTOMATION",
    "WORK_POOLS",
    "bootstrap",
    "crash_window",
]

log = logging.getLogger("reelflow.bootstrap")

# Job pools, and a pool of its own for the scheduled maintenance flows (reaper, sweeper,
# retention), so the worker that serves them never takes a job.
WORK_POOLS = {
    "reelflow-process": "process",
    "reelflow-docker": "docker",
    "reelflow-maintenance": "process",
}
JOB_POOLS = ("reelflow-process", "reelflow-docker")
JOB_CONCURRENCY_LIMIT = "reelflow-jobs"
HEARTBEAT_AUTOMATION = "reelflow: crash flow runs whose heartbeats stopped"
WEBHOOK_AUTOMATION = "reelflow: deliver webhooks when a job ends"
JOB_FINISHED_EVENT = "reelflow.job.finished"
WEBHOOK_DEPLOYMENT = "deliver-webhooks/deliver-webhooks"
PENDING_AUTOMATION = "reelflow: fail flow runs stuck in Pending"

MISSED_HEARTBEATS = 3
HEARTBEAT_MARGIN_S = 10  # event delivery, heartbeat loop drift, worker/server clock skew
MIN_PROACTIVE_WITHIN_S = 10  # Prefect's EventTrigger refuses less for Proactive triggers

# Any later event of the run (a heartbeat, any state) meets the expectation; only `after` events
# open a new window, so a run that reached a terminal state is left alone.
ANY_FLOW_RUN_EVENT = "prefect.flow-run.*"
RUNNING_EVENTS = {
    "prefect.flow-run.heartbeat",
    "prefect.flow-run.Running",
    "prefect.flow-run.Retrying",
}
PENDING_EVENTS = {
    "prefect.flow-run.Pending",
    "prefect.flow-run.Submitting",  # Pending-type state the 3.8.8 worker sets after Pending
    "prefect.flow-run.InfrastructurePending",
    "prefect.flow-run.pull-step.*",  # the run's process pulled its code, the engine is next
}


def crash_window(heartbeat_s: int) -> timedelta:
    """Silence after which a running flow run is a zombie: 3 missed heartbeats plus a margin."""
    seconds = max(MISSED_HEARTBEATS * heartbeat_s + HEARTBEAT_MARGIN_S, MIN_PROACTIVE_WITHIN_S)
    return timedelta(seconds=seconds)


def _crash_when_silent(name: str, after: set[str], within: timedelta, message: str) -> Any:
    """An automation that crashes a flow run with no event ``within`` after one of ``after``."""
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    trigger = EventTrigger(
        match={"prefect.resource.id": "prefect.flow-run.*"},
        for_each={"prefect.resource.id"},
        posture=Posture.Proactive,
        after=after,
        expect={ANY_FLOW_RUN_EVENT},
        threshold=1,
        within=within,
    )
    action = ChangeFlowRunState(state=StateType.CRASHED, message=f"[worker_timeout] {message}")
    return AutomationCore(name=name, description=message, trigger=trigger, actions=[action])


def _automations(heartbeat_s: int, pending_timeout_s: int) -> list[Any]:
    window = crash_window(heartbeat_s)
    pending = max(pending_timeout_s, MIN_PROACTIVE_WITHIN_S)
    return [
        _crash_when_silent(
            HEARTBEAT_AUTOMATION,
            RUNNING_EVENTS,
            window,
            f"flow run heartbeats stopped: none for {int(window.total_seconds())}s "
            f"(expected every {heartbeat_s}s)",
        ),
        _crash_when_silent(
            PENDING_AUTOMATION,
            PENDING_EVENTS,
            timedelta(seconds=pending),
            f"flow run stuck in Pending for {pending}s: its infrastructure never started",
        ),
    ]


def _template(kind: str, settings: Settings) -> dict[str, Any]:
    from prefect.workers.base import BaseWorker

    if kind == "docker":
        return docker_base_job_template(settings)
    worker = BaseWorker.get_worker_class_from_type(kind)
    if worker is None:
        raise ConfigError(f"no Prefect worker of type {kind} is installed")
    # The template `prefect work-pool create --type KIND` uses, minus its network fallback.
    return dict(worker.get_default_base_job_template())


def _ensure_pool(client: Any, name: str, kind: str, settings: Settings) -> str:
    """'created', 'existing', or 'updated' (the Docker pool's template was not the locked one)."""
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    template = _template(kind, settings)
    try:
        pool = client.read_work_pool(name)
    except ObjectNotFound:
        try:
            client.create_work_pool(
                WorkPoolCreate(name=name, type=kind, base_job_template=template)
            )
        except ObjectAlreadyExists:
            return "existing"
        return "created"
    if pool.type != kind:
        raise ConfigError(f"work pool {name} exists with type {pool.type}, expected {kind}")
    if kind == "docker" and pool.base_job_template != template:
        client.update_work_pool(name, WorkPoolUpdate(base_job_template=template))
        return "updated"
    return "existing"


def _ensure_queues(client: Any, pool: str) -> dict[str, str]:
    """The priority queues of a job pool (high, default, low) -> created|existing|updated."""
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    outcome: dict[str, str] = {}
    for name, priority in PRIORITY_QUEUES.values():
        try:
            queue = client.read_work_queue_by_name(name, work_pool_name=pool)
        except ObjectNotFound:
            try:
                client.create_work_queue(name=name, work_pool_name=pool, priority=priority)
                outcome[name] = "created"
            except ObjectAlreadyExists:
                outcome[name] = "existing"
            continue
        if queue.priority != priority:
            client.update_work_queue(queue.id, priority=priority)
            outcome[name] = "updated"
        else:
            outcome[name] = "existing"
    return outcome


def _ensure_limit(client: Any, size: int) -> str:
    from prefect.client.schemas.actions import (
        GlobalConcurrencyLimitCreate,
        GlobalConcurrencyLimitUpdate,
    )
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    try:
        found = client.read_global_concurrency_limit_by_name(JOB_CONCURRENCY_LIMIT)
    except ObjectNotFound:
        try:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=JOB_CONCURRENCY_LIMIT, limit=size)
            )
        except ObjectAlreadyExists:
            return "existing"
        return "created"
    if found.limit != size:
        client.update_global_concurrency_limit(
            JOB_CONCURRENCY_LIMIT, GlobalConcurrencyLimitUpdate(limit=size)
        )
        return "updated"
    return "existing"


def _ensure_automation(client: Any, automation: Any, *, replace: bool = False) -> bool | str:
    """Create ``automation`` when missing. With ``replace`` (automations that follow settings:
    watch rules, hooks), one that differs is recreated ('updated'); otherwise it is kept."""
    found = client.read_automations_by_name(automation.name)
    if not found:
        client.create_automation(automation)
        return True
    same = found[0].trigger.model_dump() == automation.trigger.model_dump() and [
        a.model_dump() for a in found[0].actions
    ] == [a.model_dump() for a in automation.actions]
    if same:
        return False
    if not replace:
        log.warning("automation %r differs; left unchanged (delete it to apply)", automation.name)
        return False
    for old in found:
        client.delete_automation(old.id)
    client.create_automation(automation)
    return "updated"


def _run_on_event(
    client: Any,
    *,
    name: str,
    match: dict[str, str],
    event: str,
    deployment: str,
    user: str,
    parameters: dict[str, Any],
    description: str = "",
) -> Any:
    """An automation that runs ``deployment`` with ``parameters`` on each ``event`` of a
    resource matching ``match`` (a Reactive trigger: one run per event)."""
    from prefect.events.actions import RunDeployment
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    trigger = EventTrigger(
        match=match, expect={event}, posture=Posture.Reactive, threshold=1, within=timedelta(0)
    )
    action = RunDeployment(
        source="selected",
        deployment_id=_deployment(client, deployment, user).id,
        parameters=parameters,
    )
    return AutomationCore(name=name, description=description, trigger=trigger, actions=[action])


def _inbound_automations(client: Any, settings: Settings) -> list[Any]:
    """One automation per watch rule and per generic hook: their event runs their deployment."""
    from infra.webhooks.inbound import HOOK_EVENT, SOURCE_EVENT

    automations = []
    for rule in settings.webhooks.watch:
        request: dict[str, Any] = {
            "source": "s3://{{ event.resource['reelflow.bucket'] }}/"
            "{{ event.resource['reelflow.key'] }}",
            "kind": rule.kind,
            "job_id": "{{ event.resource['reelflow.job-id'] }}",
            "client": f"s3:{rule.name}",
        }
        if rule.preset:
            request["preset"] = rule.preset
        automations.append(
            _run_on_event(
                client,
                name=f"reelflow: uploads under {rule.prefix} start jobs ({rule.name})",
                match={"prefect.resource.id": "reelflow.object.*", "reelflow.watch": rule.name},
                event=SOURCE_EVENT,
                deployment=rule.deployment,
                user=f"watch rule {rule.name!r}",
                parameters={"request": request},
            )
        )
    for name, hook in settings.webhooks.generic_hooks.items():
        automations.append(
            _run_on_event(
                client,
                name=f"reelflow: hook {name} starts jobs",
                match={"prefect.resource.id": f"reelflow.hook.{name}"},
                event=HOOK_EVENT,
                deployment=hook.deployment,
                user=f"generic hook {name!r}",
                parameters={"request": "{{ event.payload.request }}"},
            )
        )
    return automations


def _deployment(client: Any, name: str, user: str) -> Any:
    from prefect.exceptions import ObjectNotFound

    try:
        return client.read_deployment_by_name(name)
    except ObjectNotFound:
        raise ConfigError(f"the {user} runs deployment {name!r}, which is not deployed") from None


def _webhook_automation(client: Any) -> Any:
    """On a job's outcome event, run the webhook deliverer (it sends whatever is due)."""
    return _run_on_event(
        client,
        name=WEBHOOK_AUTOMATION,
        description="Deliver the webhook outbox seconds after a job ends.",
        match={"prefect.resource.id": "reelflow.job.*"},
        event=JOB_FINISHED_EVENT,
        deployment=WEBHOOK_DEPLOYMENT,
        user="webhook automation",
        parameters={},
    )


def _ensure_bucket(settings: Settings) -> bool:
    return S3Store.from_settings(settings).ensure_bucket()


def bootstrap(
    settings: Settings,
    *,
    heartbeat_s: int = 30,
    pending_timeout_s: int = 900,
    project_dir: Path | None = None,
    deployments: Sequence[str] | None = None,
) -> dict[str, list[str]]:
    """Create the pools, the job limit, both automations and the S3 bucket when missing; lock
    the Docker pool's template; with ``project_dir``, deploy (every deployment of prefect.yaml,
    or only ``deployments``), bind the job limit and create the automations that run a
    deployment (webhook delivery, watch rules, generic hooks).

    Talks to the Prefect API of the current Prefect settings (``PREFECT_API_URL``).
    """
    from prefect.client.orchestration import get_client
    from prefect.settings import get_current_settings

    if heartbeat_s < 1 or pending_timeout_s < 1:
        raise ConfigError("heartbeat_s and pending_timeout_s must be positive")
    here = get_current_settings().flows.heartbeat_frequency
    if here != heartbeat_s:
        log.warning("heartbeat_s=%s but PREFECT_FLOWS_HEARTBEAT_FREQUENCY=%s", heartbeat_s, here)
    report: dict[str, list[str]] = {"created": [], "existing": [], "updated": []}

    def note(name: str, outcome: str | bool) -> None:
        if isinstance(outcome, bool):  # created or not
            outcome = "created" if outcome else "existing"
        report[outcome].append(name)
        log.info("%s %s", outcome, name)

    with get_client(sync_client=True) as client:
        for name, kind in WORK_POOLS.items():
            note(name, _ensure_pool(client, name, kind, settings))
            if name in JOB_POOLS:
                for queue, outcome in _ensure_queues(client, name).items():
                    note(f"{name}/{queue}", outcome)
        note(JOB_CONCURRENCY_LIMIT, _ensure_limit(client, settings.prefect.job_concurrency))
        for automation in _automations(heartbeat_s, pending_timeout_s):
            note(automation.name, _ensure_automation(client, automation))
    if settings.storage.backend == "s3":
        note(f"bucket:{settings.storage.bucket}", _ensure_bucket(settings))
    if project_dir is not None:
        with get_client(sync_client=True) as client:
            detach_job_limit(client)  # else deploying again deletes the shared limit
        deploy_all(project_dir, names=deployments)
        with get_client(sync_client=True) as client:
            _ensure_limit(client, settings.prefect.job_concurrency)
            report["limited_deployments"] = attach_job_limit(client, JOB_CONCURRENCY_LIMIT)
            note(WEBHOOK_AUTOMATION, _ensure_automation(client, _webhook_automation(client)))
            for automation in _inbound_automations(client, settings):
                note(automation.name, _ensure_automation(client, automation, replace=True))
    return report
