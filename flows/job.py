"""What every job flow does around its own stages: one place for both job kinds.

Build what the stages share (the settings, the ledger, the job's context: claim, guard,
heartbeat), validate the request, run the flow's stages, run cleanup in every outcome, turn a
coded error into the Failed state (a cancel stays a cancel), and show the outputs as a table
artifact. The flows (``document_job``, ``media_job``) only say which stages run in which order.
"""

from __future__ import annotations

from collections.abc import Callable

from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run
from prefect.states import State

from infra.errors import ReelflowError, UserCanceled
from infra.jobs.models import JobKind, JobRequest, JobResult
from infra.jobs.stages import Stage
from infra.jobs.validation import validate_request
from infra.settings import get_settings
from infra.store.ledger import JobLedger
from tasks.cleanup import cleanup_stage
from tasks.stage import JobContext, failed_state, job_scope, run_stage

__all__ = ["Stages", "run_job"]

# The flow's own stages, from the validated request to the uploaded result.
Stages = Callable[[JobContext, JobRequest], JobResult]


def run_job(
    request: JobRequest, kind: JobKind, description: str, stages: Stages
) -> JobResult | State:
    settings = get_settings()
    ledger = JobLedger.from_settings(settings.ledger)
    try:
        with job_scope(
            request,
            kind=kind,
            flow_run_id=flow_run.id,
            settings=settings,
            ledger=ledger,
            description=description,
        ) as ctx:
            request = validate_request(request, settings)
            try:
                result = stages(ctx, request)
            finally:
                run_stage(ctx, Stage.CLEANUP, cleanup_stage, ctx)
    except UserCanceled:
        raise
    except ReelflowError as exc:
        return failed_state(exc)
    finally:
        ledger.dispose()
    create_table_artifact(
        table=[{"output": name, "key": key} for name, key in result.outputs.items()],
        description=f"Outputs of reelflow job {result.job_id} (keys in the artifact store)",
    )
    return result
