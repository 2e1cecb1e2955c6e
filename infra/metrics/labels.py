"""Label values kept low-cardinality: every value a metric gets passes through here.

Why: one raw path, job id or free-text client name in a label makes a new time series per request
and can take Prometheus down. Vocabularies that the code owns (kinds, presets, error codes, the
gateway's refusals) are imported from where they are defined; values that come from data (route
templates, client names, stage and operation names) are admitted up to a fixed number of distinct
values, after which they read ``other``. Nothing here raises: a metric must never fail a request.
"""

from __future__ import annotations

import re
import threading

from infra.errors import (
    ERROR_CODES,
    ConcurrencyLimited,
    Overloaded,
    PayloadTooLarge,
    RateLimited,
    RequestError,
    Unauthorized,
    UrlRefused,
    UserCanceled,
)
from infra.jobs.models import JobKind
from infra.media.presets import PRESETS

__all__ = [
    "HTTP_METHODS",
    "JOB_ERROR_CODES",
    "KINDS",
    "NO_ERROR",
    "OTHER",
    "OUTCOMES",
    "REFUSAL_REASONS",
    "BoundedLabel",
    "error_code_label",
    "kind_label",
    "method_label",
    "outcome_label",
    "preset_label",
    "refusal_label",
    "status_label",
]

OTHER = "other"
NO_ERROR = "none"  # error_code of a job that did not fail

KINDS: tuple[str, ...] = tuple(k.value for k in JobKind if k is not JobKind.AUTO)
OUTCOMES: tuple[str, ...] = ("succeeded", "failed", "canceled")
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# What the gateway refuses before any work, by the code of the error it answers with.
REFUSAL_REASONS: tuple[str, ...] = tuple(
    cls.code
    for cls in (
        RateLimited,
        ConcurrencyLimited,
        Overloaded,
        Unauthorized,
        PayloadTooLarge,
        UrlRefused,
    )
)


def _request_codes() -> frozenset[str]:
    codes: set[str] = set()
    stack: list[type[RequestError]] = list(RequestError.__subclasses__())
    while stack:
        cls = stack.pop()
        codes.add(cls.code)
        stack.extend(cls.__subclasses__())
    return frozenset(codes)


# Codes a job can end with (the job API's refusal codes never reach a job's outcome).
JOB_ERROR_CODES: tuple[str, ...] = tuple(
    code for code in ERROR_CODES if code not in _request_codes() or code == "input_invalid"
)


class BoundedLabel:
    """Admits the first ``max_values`` distinct well-formed values; the rest read ``other``."""

    def __init__(self, max_values: int, pattern: str = r"[A-Za-z0-9_.:/{}-]{1,64}") -> None:
        self._max = max_values
        self._pattern = re.compile(pattern)
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str | None, default: str = OTHER) -> str:
        if not value:
            return default
        if not self._pattern.fullmatch(value):
            return OTHER
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) >= self._max:
                return OTHER
            self._seen.add(value)
            return value


def kind_label(kind: str | None) -> str:
    value = (kind or "").lower()
    return value if value in KINDS else "unknown"


def preset_label(preset: str | None) -> str:
    return preset if preset in PRESETS else OTHER


def outcome_label(outcome: str) -> str:
    value = outcome.lower()
    return value if value in OUTCOMES else OTHER


def error_code_label(outcome: str, code: str | None) -> str:
    """``none`` for a success, ``user_canceled`` for a cancel, else the documented code."""
    if outcome == "succeeded":
        return NO_ERROR
    if outcome == "canceled":
        return UserCanceled.code
    return code if code in ERROR_CODES else "internal_error"


def refusal_label(reason: str) -> str:
    return reason if reason in REFUSAL_REASONS else OTHER


def method_label(method: str) -> str:
    value = method.upper()
    return value if value in HTTP_METHODS else "OTHER"


def status_label(status: int) -> str:
    return str(status) if 100 <= status <= 599 else OTHER
