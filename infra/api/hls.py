"""``GET /v1/jobs/{id}/hls/{path}``: a finished job's HLS playlists, every URI signed.

Authorized by the job's owner (Bearer key) or by the playback token of ``links.playback``.
Playlists are rewritten by :func:`infra.api.playback.rewrite_playlist`; segments are presigned
store URLs, or, for a store without HTTP presigning (the local folder of the embedded default),
streamed by this same route under the token.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from infra.api.access import authenticate, gateway_of
from infra.api.errors import ERROR_RESPONSES, documented_error
from infra.api.jobs import JobId, base_url
from infra.api.playback import is_playlist, rewrite_playlist, safe_hls_path
from infra.errors import NotFound, StorageRejected, Unauthorized
from infra.store.artifacts import content_type_for
from infra.store.ledger import JobStatus

__all__ = ["router"]

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"

router = APIRouter(prefix="/v1/jobs", tags=["playback"], responses=ERROR_RESPONSES)


@router.get(
    "/{job_id}/hls/{path:path}",
    summary="HLS playlists (and local segments) of a finished job, every URI signed",
    response_class=Response,
    responses={
        200: {"description": "A playlist or a segment.", "content": {PLAYLIST_TYPE: {}}},
        404: documented_error("`not_found`"),
        410: documented_error("`job_deleted`"),
    },
)
def hls_file(
    request: Request,
    job_id: JobId,
    path: Annotated[str, Path(description="master.m3u8, <rendition>/index.m3u8, ...")],
    token: Annotated[str | None, Query(max_length=128, description="links.playback's.")] = None,
) -> Response:
    gw = gateway_of(request)
    if token is not None:
        if not gw.tokens.valid(job_id, token):
            raise Unauthorized("the playback link is not valid or has expired")
        job = gw.service.get(job_id)
    else:
        job = gw.service.get(job_id, client=authenticate(request).client)
    hls = (job.artifacts or {}).get("hls")
    if job.status != JobStatus.SUCCEEDED or not isinstance(hls, str):
        raise NotFound(f"job {job_id} has no HLS output (yet)")
    if safe_hls_path(path) is None:
        raise NotFound(f"no HLS file {path[:100]!r} in job {job_id}")
    folder = hls.rsplit("/", 1)[0]  # jobs/<id>/hls
    store = gw.service.store
    expiry = gw.tokens.expiry_s
    if not is_playlist(path):
        if token is None:
            raise NotFound("segments are served with a playback token only")
        return _stream(store, f"{folder}/{path}")
    try:
        text = store.get_bytes(f"{folder}/{path}").decode("utf-8")
    except (StorageRejected, UnicodeDecodeError) as exc:
        raise NotFound(f"no HLS file {path[:100]!r} in job {job_id}") from exc
    gateway_hls = f"{base_url(gw, request)}/v1/jobs/{job_id}/hls/"
    fresh = token if token is not None else gw.tokens.mint(job_id)

    def sign(relative: str) -> str:
        if not is_playlist(relative):
            url = store.url_for(f"{folder}/{relative}", expiry)
            if url.startswith(("https://", "http://")):
                return url
        return f"{gateway_hls}{quote(relative)}?token={fresh}"

    body = rewrite_playlist(text, path.rsplit("/", 1)[0] if "/" in path else "", sign)
    return Response(body, media_type=PLAYLIST_TYPE, headers={"Cache-Control": "no-store"})


def _stream(store, key: str) -> Response:  # noqa: ANN001
    size = store.size_of(key)
    if size is None:
        raise NotFound("no such segment")
    return StreamingResponse(
        store.iter_chunks(key),
        media_type=content_type_for(key),
        headers={"Content-Length": str(size)},
    )
