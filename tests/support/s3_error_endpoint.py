"""An HTTP endpoint on 127.0.0.1 that answers every S3 request with one S3 error.

Real HTTP and the real S3 error document (``<Error><Code>...``), so the minio SDK, urllib3's retries
and the store's translation all run as they would against a throttled or refusing server.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["S3ErrorEndpoint"]

_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>{code}</Code><Message>{code} from the test endpoint</Message>"
    "<Resource>{path}</Resource><RequestId>test</RequestId></Error>"
)


class S3ErrorEndpoint:
    """Answers ``status`` with S3 error ``code`` to every request; counts the requests."""

    def __init__(self, status: int, code: str) -> None:
        self.status, self.code = status, code
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler_for(endpoint: S3ErrorEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            endpoint.requests.append(f"{self.command} {self.path}")
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            body = _BODY.format(code=endpoint.code, path=self.path).encode()
            self.send_response(endpoint.status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002
            return

    return Handler
