"""Multipart uploads streamed into the store as they arrive, never held whole in memory.

The form's ``file`` part goes to ``inbox/<job_id>/<safe name>`` through the store's
``put_stream``, chunk by chunk as the client sends it; the other parts are the job's options as
form fields (bounded to :data:`FIELDS_MAX_BYTES` together). The size limit is the one of the job's
kind (the ``kind`` field when it comes before the file, else the kind sniffed from the file's
first bytes): the moment it is crossed the store drops the partial object and the upload is
refused with ``payload_too_large``. The rest of the body is then read and discarded up to
:data:`DRAIN_MAX_BYTES` (so an HTTP client that sends its whole body first still reads the 413),
after that the connection is closed.

The parser is sync and runs in a worker thread; it pulls the request's body from the event loop
one chunk at a time (:func:`pull_from`), so a slow store slows the client down instead of
buffering its body.
"""

from __future__ import annotations

import itertools
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from infra.errors import InputInvalid, InputTooLarge, PayloadTooLarge
from infra.jobs.detect import HEAD_BYTES, Content, sniff
from infra.jobs.models import JobKind
from infra.jobs.preflight import kind_limit
from infra.jobs.sources import safe_file_name, source_name
from infra.settings import Settings
from infra.store.artifacts import ArtifactStore, StoredObject, content_type_for
from infra.store.layout import Area, job_prefix

__all__ = [
    "DRAIN_MAX_BYTES",
    "FIELDS_MAX_BYTES",
    "FORM_FIELDS",
    "MultipartForm",
    "Upload",
    "boundary_of",
    "receive_upload",
]

FIELDS_MAX_BYTES = 64 * 1024
DRAIN_MAX_BYTES = 16 * 1024 * 1024
FORM_FIELDS = frozenset(
    {"kind", "preset", "voice", "language", "job_id", "callback_url", "metadata", "limits"}
    | {"priority", "engine"}
)
_DOCUMENT_CONTENT = (Content.PDF, Content.MARKDOWN, Content.TEXT, Content.MEDIA_LIST)

Event = tuple[str, Any]


@dataclass
class Upload:
    """A stored upload and the form fields that came with it."""

    job_id: str
    name: str  # as the client named it
    stored: StoredObject
    fields: dict[str, str] = field(default_factory=dict)


def boundary_of(content_type: str) -> bytes:
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise InputInvalid("send multipart/form-data with a boundary, or application/json")
    return boundary


class MultipartForm:
    """Parse events of a multipart body pulled chunk by chunk from ``pull`` (None = end)."""

    def __init__(self, boundary: bytes, pull: Callable[[], bytes | None]) -> None:
        self._pull = pull
        self._events: deque[Event] = deque()
        self._headers: dict[str, str] = {}
        self._name = bytearray()
        self._value = bytearray()
        self._ended = False
        self._exhausted = False
        try:
            self._parser = MultipartParser(
                boundary,
                callbacks={
                    "on_part_begin": self._begin,
                    "on_header_field": lambda d, s, e: self._name.extend(d[s:e]),
                    "on_header_value": lambda d, s, e: self._value.extend(d[s:e]),
                    "on_header_end": self._header_end,
                    "on_headers_finished": lambda: self._events.append(
                        ("headers", dict(self._headers))
                    ),
                    "on_part_data": lambda d, s, e: self._events.append(("data", bytes(d[s:e]))),
                    "on_part_end": lambda: self._events.append(("end", None)),
                    "on_end": self._end,
                },
            )
        except Exception as exc:  # a boundary the parser refuses (too long, ...)
            raise InputInvalid(f"the multipart boundary is not valid: {exc}") from exc

    def _begin(self) -> None:
        self._headers = {}

    def _header_end(self) -> None:
        self._headers[self._name.decode("latin-1").strip().lower()] = self._value.decode(
            "utf-8", "replace"
        ).strip()
        self._name.clear()
        self._value.clear()

    def _end(self) -> None:
        self._ended = True

    def next(self) -> Event | None:
        """The next event (``headers``, ``data``, ``end`` of a part), None after the last."""
        while not self._events:
            if self._exhausted:
                return None
            raw = self._pull()
            if raw is None:
                self._exhausted = True
                if not self._ended:
                    raise InputInvalid("the multipart body ended before its closing boundary")
                continue
            if self._ended:
                continue  # the epilogue after the closing boundary: ignored
            try:
                self._parser.write(raw)
            except MultipartParseError as exc:
                raise InputInvalid(f"the multipart body is malformed: {exc}") from exc
        return self._events.popleft()

    def part_data(self) -> Iterator[bytes]:
        """The data of the current part, up to its end."""
        while True:
            event = self.next()
            if event is None:
                raise InputInvalid("the multipart body ended inside a part")
            kind, value = event
            if kind == "end":
                return
            if kind == "data":
                yield value

    def drain(self, limit: int) -> bool:
        """Read and discard the rest of the body, at most ``limit`` bytes; True when it ended."""
        seen = 0
        while seen <= limit:
            try:
                event = self.next()
            except InputInvalid:
                return True
            if event is None:
                return True
            if event[0] == "data":
                seen += len(event[1])
        return False


def _disposition(headers: dict[str, str]) -> tuple[str, str | None]:
    value = headers.get("content-disposition", "")
    try:
        kind, options = parse_options_header(value)
    except ValueError as exc:  # a name outside latin-1 (UnicodeEncodeError) or a broken header
        raise InputInvalid("a multipart part's Content-Disposition cannot be read") from exc
    if kind != b"form-data" or b"name" not in options:
        raise InputInvalid("each multipart part needs Content-Disposition: form-data; name=...")
    filename = options.get(b"filename")
    name = options[b"name"].decode("utf-8", "replace")
    return name, filename.decode("utf-8", "replace") if filename is not None else None


def _limit(fields: dict[str, str], head: bytes, name: str, settings: Settings) -> tuple[int, str]:
    """(size limit, kind) of the upload: the kind field when given, else sniffed from ``head``."""
    asked = fields.get("kind", JobKind.AUTO.value)
    if asked in (JobKind.DOCUMENT.value, JobKind.MEDIA.value):
        kind = JobKind(asked)
    else:
        kind = JobKind.DOCUMENT if sniff(head, name) in _DOCUMENT_CONTENT else JobKind.MEDIA
    return kind_limit(kind, settings), kind.value


def receive_upload(
    form: MultipartForm,
    store: ArtifactStore,
    settings: Settings,
    job_id_for: Callable[[dict[str, str]], str],
) -> Upload:
    """Store the form's one ``file`` part under the inbox of ``job_id_for(fields so far)`` and
    collect the fields. Raises InputInvalid / PayloadTooLarge with nothing left in the store."""
    fields: dict[str, str] = {}
    field_bytes = 0
    upload: Upload | None = None
    try:
        while (event := form.next()) is not None:
            if event[0] != "headers":
                continue
            name, filename = _disposition(event[1])
            if filename is not None:
                if name != "file" or upload is not None:
                    raise InputInvalid("send exactly one file, in the form field `file`")
                upload = _store_file(form, store, settings, job_id_for(fields), filename, fields)
                continue
            if name not in FORM_FIELDS:
                raise InputInvalid(f"unknown form field {name[:64]!r}")
            if name in fields:
                raise InputInvalid(f"the form field {name!r} is given twice")
            value = bytearray()
            for data in form.part_data():
                field_bytes += len(data)
                if field_bytes > FIELDS_MAX_BYTES:
                    raise PayloadTooLarge(
                        f"the form fields are larger than {FIELDS_MAX_BYTES // 1024} KB together"
                    )
                value += data
            try:
                fields[name] = value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputInvalid(f"the form field {name!r} is not UTF-8") from exc
        if upload is None:
            raise InputInvalid("the form has no file: send it in the field `file`")
    except BaseException:
        if upload is not None:
            store.delete_key(upload.stored.key)  # this request's object only
        raise
    upload.fields = fields
    return upload


def _store_file(
    form: MultipartForm,
    store: ArtifactStore,
    settings: Settings,
    job_id: str,
    filename: str,
    fields: dict[str, str],
) -> Upload:
    original = source_name(filename) if filename else "upload"
    # A folder of this request's own: two requests naming one job id never share an object.
    folder = uuid.uuid4().hex[:16]
    key = f"{job_prefix(job_id, Area.INBOX)}{folder}/{safe_file_name(original, 'upload')}"
    data = form.part_data()
    head = bytearray()
    for chunk in data:
        head += chunk
        if len(head) >= HEAD_BYTES:
            break
    limit, kind = _limit(fields, bytes(head[:HEAD_BYTES]), original, settings)
    try:
        stored = store.put_stream(
            key, itertools.chain([bytes(head)], data), content_type_for(key), limit
        )
    except InputTooLarge as exc:
        # The traceback's frames hold the SDK's part buffer: release it now, not at the next GC.
        traceback.clear_frames(exc.__traceback__)
        form.drain(DRAIN_MAX_BYTES)
        raise PayloadTooLarge(
            f"{original} is larger than the limit of {limit / 1e6:.1f} MB for {kind} jobs "
            "(REELFLOW_INPUT__MAX_BYTES for documents, MAX_MEDIA_BYTES for media); nothing was "
            "kept"
        ) from exc
    return Upload(job_id, original, stored)
