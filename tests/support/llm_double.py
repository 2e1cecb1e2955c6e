"""An OpenAI-compatible chat-completions server for tests: real HTTP on 127.0.0.1, scripted replies.

``LLMDouble`` answers ``POST .../chat/completions`` with the next queued :class:`Reply` (status,
JSON body or raw text, headers, an optional delay), or with ``default`` when the queue is empty, and
records every request it received. A delay holds the connection open without a response (the LLM
"thinking"); ``stop()`` ends every delay at once and drops those connections, so it never hangs.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["GOOD_SLIDES", "LLMDouble", "Received", "Reply", "chat_completion", "script_reply"]

GOOD_SLIDES: list[dict[str, Any]] = [
    {
        "title": "Why reelflow exists",
        "bullets": ["No stuck jobs", "Clear error codes"],
        "narration": "Reelflow turns documents into narrated videos without a person watching.",
    },
    {
        "title": "How a job runs",
        "bullets": ["Probe, script, render, upload"],
        "narration": "Every job runs as a Prefect flow and writes its manifest last.",
    },
]


@dataclass
class Reply:
    """One scripted answer: ``body`` is JSON unless it is a str (sent as it is)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    trickle_s: float = 0.0  # pause between body bytes (a provider that streams very slowly)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def bearer(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None


def chat_completion(content: str, *, finish_reason: str = "stop") -> dict[str, Any]:
    """A chat-completions response body whose one choice says ``content``."""
    return {
        "id": "chatcmpl-double",
        "object": "chat.completion",
        "created": 0,
        "model": "double",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def script_reply(slides: list[dict[str, Any]] | None = None, delay_s: float = 0.0) -> Reply:
    """A 200 whose content is the slides JSON the script prompt asks for."""
    content = json.dumps({"slides": GOOD_SLIDES if slides is None else slides})
    return Reply(body=chat_completion(content), delay_s=delay_s)


class LLMDouble:
    def __init__(self) -> None:
        self.default = script_reply()
        self.requests: list[Received] = []
        self._queue: deque[Reply] = deque()
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """The API root to configure (``REELFLOW_SCRIPT__LLM_BASE_URL``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def calls(self) -> int:
        with self._changed:
            return len(self.requests)

    def respond(self, *replies: Reply) -> None:
        """Queue replies, used one per request in order, before ``default``."""
        with self._changed:
            self._queue.extend(replies)

    def wait_for_calls(self, count: int, timeout_s: float = 30.0) -> bool:
        """Block until ``count`` requests have arrived (a delayed one counts on arrival)."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.requests) >= count, timeout_s)

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _take(self, received: Received) -> Reply:
        with self._changed:
            self.requests.append(received)
            self._changed.notify_all()
            return self._queue.popleft() if self._queue else self.default


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that gave up is normal
            super().handle_error(request, client_address)


def _handler_for(double: LLMDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # a client that connects and sends nothing cannot hold up stop()

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
            headers = {k.lower(): v for k, v in self.headers.items()}
            if not self.path.endswith("/chat/completions"):
                self._send(Reply(status=404, body={"error": {"message": "unknown path"}}))
                return
            reply = double._take(Received(self.path, headers, body))
            if reply.delay_s and double._stopping.wait(reply.delay_s):
                self.close_connection = True  # stopped while "thinking": drop the connection
                return
            self._send(reply)

        def _send(self, reply: Reply) -> None:
            body = reply.body if reply.body is not None else {}
            is_text = isinstance(body, str)
            data = (body if is_text else json.dumps(body)).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "text/plain" if is_text else "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if not reply.trickle_s:
                self.wfile.write(data)
                return
            for i in range(len(data)):
                if double._stopping.wait(reply.trickle_s):
                    return
                try:
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                except OSError:  # the client gave up
                    return

        def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002
            pass  # keep test output clean

    return Handler
