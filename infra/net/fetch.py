"""Fetch an https source under the SSRF rules: checked address, re-checked redirects, a size cap
and a deadline. Used by the probe stage; the bytes land in the job's work folder."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx

from infra.errors import InputTooLarge, InputUnreadable, UrlRefused
from infra.jobs.sources import copy_bounded
from infra.net.ssrf import CheckedURL, check_url
from infra.settings.net import NetSettings

__all__ = ["fetch_url", "open_checked"]

CHUNK = 1024 * 1024


def open_checked(
    client: httpx.Client, checked: CheckedURL, method: str = "GET", **kwargs: object
) -> httpx.Response:
    """Send a request to the checked address (Host header and TLS name = the URL's host)."""
    headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[call-overload]
    headers["Host"] = checked.parts.netloc.rsplit("@", 1)[-1]
    request = client.build_request(
        method,
        checked.url_for_address(),
        headers=headers,
        extensions={"sni_hostname": checked.host},
        **kwargs,  # type: ignore[arg-type]
    )
    return client.send(request, stream=True, follow_redirects=False)


def fetch_url(url: str, target: Path, max_bytes: int, cfg: NetSettings) -> str:
    """Download ``url`` to ``target``; returns the sha256. UrlRefused / InputUnreadable /
    InputTooLarge, with nothing left at ``target`` on failure."""
    deadline = time.monotonic() + cfg.fetch_timeout_s
    timeout = httpx.Timeout(cfg.fetch_timeout_s, connect=cfg.connect_timeout_s)
    current = url
    with httpx.Client(timeout=timeout, trust_env=False) as client:
        for _ in range(cfg.max_redirects + 1):
            checked = check_url(current, cfg.allow_hosts, what="source URL")
            try:
                response = open_checked(client, checked)
            except httpx.HTTPError as exc:
                raise InputUnreadable(f"cannot fetch {checked.host}: {exc}") from exc
            try:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    current = urljoin(current, location)
                    continue
                if response.status_code != 200:
                    raise InputUnreadable(
                        f"fetching the source from {checked.host} answered HTTP "
                        f"{response.status_code}"
                    )
                length = response.headers.get("content-length")
                if length and length.isdigit() and int(length) > max_bytes:
                    raise InputTooLarge(
                        f"the source at {checked.host} is {int(length) / 1e6:.1f} MB; the limit "
                        f"is {max_bytes / 1e6:.1f} MB"
                    )
                return copy_bounded(
                    _body(response, deadline, checked.host), target, max_bytes, target.name
                )
            finally:
                response.close()
    raise UrlRefused(f"the source URL redirected more than {cfg.max_redirects} times")


def _body(response: httpx.Response, deadline: float, host: str) -> Iterator[bytes]:
    try:
        for chunk in response.iter_bytes(CHUNK):
            if time.monotonic() > deadline:
                raise InputUnreadable(f"fetching the source from {host} took too long")
            yield chunk
    except httpx.HTTPError as exc:
        raise InputUnreadable(f"fetching the source from {host} failed: {exc}") from exc
