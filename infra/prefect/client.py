"""A thin client of Prefect's API: create, cancel and read flow runs; nothing about jobs.

Job policy (what to submit where, the ledger, limits) lives in ``infra/jobs/service.py``; this
module only translates to Prefect's client and back, so the job service, the CLI, the gateway and
the maintenance flows share one set of calls. It talks to the API of the current Prefect settings
(``PREFECT_API_URL``, ``PREFECT_API_AUTH_STRING``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any, NamedTuple
from uuid import UUID

from infra.errors import ConfigError, PrefectUnavailable
from infra.jobs.stages import PRIORITY_QUEUES

__all__ = [
    "PRIORITY_QUEUES",
    "RunState",
    "set_paused",
    "cancel_flow_run",
    "cancel_tagged_runs",
    "create_flow_run",
    "deployment_pool_type",
    "fail_flow_run",
    "prefect_errors",
    "read_run_state",
    "retry_flow_run",
    "run_count",
]

log = logging.getLogger("reelflow.prefect")


class RunState(NamedTuple):
    """What reelflow needs of a flow run's Prefect state."""

    name: str
    message: str | None
    final: bool
    scheduled: bool  # Scheduled, Late, AwaitingRetry...: it may wait in its pool's queue for long
    type: str = ""


@contextlib.contextmanager
def prefect_errors(what: str) -> Iterator[None]:
    """Prefect's API unreachable or answering 5xx is ``prefect_unavailable`` (retryable); any
    other error (a 4xx, a bug) propagates unchanged."""
    import httpx
    from prefect.exceptions import PrefectHTTPStatusError

    try:
        yield
    except httpx.TransportError as exc:
        raise PrefectUnavailable(f"Prefect's API is unreachable ({what}): {exc}") from exc
    except PrefectHTTPStatusError as exc:
        if exc.response.status_code >= 500:
            raise PrefectUnavailable(
                f"Prefect's API answered {exc.response.status_code} ({what})"
            ) from exc
        raise


def deployment_pool_type(deployment: str) -> str | None:
    """The work pool type ("process", "docker", ...) of ``deployment`` ("flow/deployment")."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with prefect_errors("read deployment"), get_client(sync_client=True) as client:
        try:
            found = client.read_deployment_by_name(deployment)
        except ObjectNotFound as exc:
            raise ConfigError(
                f"deployment {deployment} does not exist; run `reelflow bootstrap` "
                "(or `prefect deploy --all`) first"
            ) from exc
        if not found.work_pool_name:
            return None
        return str(client.read_work_pool(found.work_pool_name).type)


def create_flow_run(
    deployment: str,
    parameters: dict[str, Any],
    *,
    idempotency_key: str,
    job_variables: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    work_queue_name: str | None = None,
) -> UUID:
    """Create a flow run of ``deployment``; the same idempotency key returns the same run."""
    from prefect.deployments import run_deployment

    with prefect_errors("create flow run"):
        run = run_deployment(
            deployment,
            parameters=parameters,
            job_variables=job_variables or None,
            idempotency_key=idempotency_key,
            tags=tags,
            work_queue_name=work_queue_name,
            timeout=0,
        )
    return UUID(str(run.id))  # type: ignore[union-attr]


def read_run_state(flow_run_id: str) -> RunState | None:
    """Prefect's state of a flow run, or None when the run does not exist; PrefectUnavailable
    when Prefect's API does not answer."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with prefect_errors("read flow run"), get_client(sync_client=True) as client:
            state = client.read_flow_run(UUID(flow_run_id)).state
    except (ObjectNotFound, ValueError):
        return None
    if state is None:
        return None
    return RunState(
        state.name or state.type.value,
        state.message,
        state.is_final(),
        state.is_scheduled(),
        state.type.value,
    )


def cancel_flow_run(flow_run_id: str, message: str) -> bool:
    """Set the run Cancelling (its worker stops it); False when it is already final/cancelling."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Cancelling

    with prefect_errors("cancel flow run"), get_client(sync_client=True) as client:
        try:
            run = client.read_flow_run(UUID(flow_run_id))
        except ObjectNotFound:
            return False
        if run.state is None or run.state.is_final() or run.state.is_cancelling():
            return False
        client.set_flow_run_state(run.id, Cancelling(message=message))
        return True


def cancel_tagged_runs(tag: str, message: str, *, wait_s: float = 0.0) -> int:
    """Set every unfinished flow run tagged ``tag`` Cancelling; then wait up to ``wait_s`` for
    them to end (so nothing they write lands after the caller cleans up). How many were set."""
    import time

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType

    final = [StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED]
    open_runs = FlowRunFilter(
        tags=FlowRunFilterTags(all_=[tag]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(not_any_=final)),
    )
    with prefect_errors("cancel tagged runs"), get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=open_runs)
    canceled = sum(cancel_flow_run(str(run.id), message) for run in runs)
    deadline = time.monotonic() + wait_s
    while runs and time.monotonic() < deadline:
        time.sleep(0.5)
        with prefect_errors("read tagged runs"), get_client(sync_client=True) as client:
            runs = client.read_flow_runs(flow_run_filter=open_runs)
    return canceled


def fail_flow_run(flow_run_id: UUID | str, message: str) -> None:
    """Set a (Crashed) flow run Failed with ``message``, so Prefect shows the job's error code."""
    from prefect.client.orchestration import get_client
    from prefect.states import Failed

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(UUID(str(flow_run_id)), Failed(message=message), force=True)


def run_count(flow_run_id: UUID | str) -> int:
    """How many times the flow run has entered Running (1 during its first attempt)."""
    from prefect.client.orchestration import get_client

    with prefect_errors("read flow run"), get_client(sync_client=True) as client:
        return client.read_flow_run(UUID(str(flow_run_id))).run_count


def idempotency_key(flow_run_id: UUID | str) -> str | None:
    """The idempotency key the flow run was created with (None for none)."""
    from prefect.client.orchestration import get_client

    with prefect_errors("read flow run"), get_client(sync_client=True) as client:
        return client.read_flow_run(UUID(str(flow_run_id))).idempotency_key


def has_deployment(flow_run_id: UUID | str) -> bool:
    """Whether a worker can take the flow run again (a run called in-process has no deployment:
    scheduled again, nobody would ever run it)."""
    from prefect.client.orchestration import get_client

    with prefect_errors("read flow run"), get_client(sync_client=True) as client:
        return client.read_flow_run(UUID(str(flow_run_id))).deployment_id is not None


def retry_flow_run(flow_run_id: UUID | str, message: str) -> bool:
    """Schedule a final (Crashed) flow run again, now, as the same run: what ``prefect flow-run
    retry`` and the UI's Retry do (AwaitingRetry, forced); a worker of its pool takes it.

    Never from a crash hook: Prefect 3.8.8's process worker reports the dead process Crashed a
    second time after its hooks ran (over the new state), and fetching the run again while it
    still holds its slot kills that worker (``this borrower is already holding one of this
    CapacityLimiter's tokens``). The reaper, a process of its own, calls this.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.responses import SetStateStatus
    from prefect.states import AwaitingRetry

    state: Any = AwaitingRetry(message=message)
    with prefect_errors("retry flow run"), get_client(sync_client=True) as client:
        result = client.set_flow_run_state(UUID(str(flow_run_id)), state, force=True)
    return result.status == SetStateStatus.ACCEPT


def set_paused(pool: str, paused: bool, queue: str | None = None) -> None:
    """Pause (drain) or resume a work pool, or one of its work queues.

    A paused pool or queue hands out no new run; runs already Pending or Running finish (Prefect's
    own mechanism: the dispatch query skips paused pools and queues). Scheduled runs wait.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolUpdate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            if queue is None:
                client.update_work_pool(pool, WorkPoolUpdate(is_paused=paused))
            else:
                found = client.read_work_queue_by_name(queue, work_pool_name=pool)
                client.update_work_queue(found.id, is_paused=paused)
        except ObjectNotFound as exc:
            what = f"work queue {queue} of pool {pool}" if queue else f"work pool {pool}"
            raise ConfigError(f"{what} does not exist") from exc
