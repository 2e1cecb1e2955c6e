"""A webhook receiver on 127.0.0.1 for tests: records each request, answers from a script.

It speaks plain HTTP/1.1 (the test allowlists 127.0.0.1 for http://) and verifies the
Reelflow-Signature the way docs/WEBHOOKS.md tells a client to.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from infra.webhooks.signing import HEADER, verify

__all__ = ["Received", "WebhookReceiver"]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    signed: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    secrets: list[str]
    answers: list[int] = field(default_factory=list)  # status per request; then 200
    received: list[Received] = field(default_factory=list)
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                signed = verify(self.headers.get(HEADER, ""), body, receiver.secrets)
                receiver.received.append(Received(dict(self.headers), body, signed))
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
