"""An OpenAI-compatible ``/v1/audio/speech`` server for tests: real HTTP on 127.0.0.1.

It answers with real audio made by espeak-ng (WAV, converted by ffmpeg to MP3 when asked), or with
the next queued :class:`SpeechReply` (a status, a body, headers: a 429, a 500, a 401, garbage), and
records every request.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["SpeechDouble", "SpeechReply", "spoken_audio"]


@dataclass
class SpeechReply:
    status: int = 200
    body: bytes | None = None  # None with 200: real speech of the input
    headers: dict[str, str] = field(default_factory=dict)


def spoken_audio(text: str, audio_format: str) -> bytes:
    """``text`` spoken by espeak-ng, as WAV or (through ffmpeg) MP3."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), text], check=True, timeout=60)
        if audio_format != "mp3":
            return wav.read_bytes()
        mp3 = Path(tmp) / "speech.mp3"
        subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-loglevel",
                "error",
                "-i",
                str(wav),
                "-c:a",
                "libmp3lame",
                "-b:a",
                "64k",
                str(mp3),
            ],
            check=True,
            timeout=60,
        )
        return mp3.read_bytes()


class SpeechDouble:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.bearers: list[str | None] = []
        self._queue: deque[SpeechReply] = deque()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """The API root to configure (``REELFLOW_TTS__REMOTE_BASE_URL``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.requests)

    def respond(self, *replies: SpeechReply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _take(self, body: dict[str, Any], bearer: str | None) -> SpeechReply:
        with self._lock:
            self.requests.append(body)
            self.bearers.append(bearer)
            return self._queue.popleft() if self._queue else SpeechReply()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(double: SpeechDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 10

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if not self.path.endswith("/audio/speech"):
                self._send(404, b'{"error": {"message": "unknown path"}}', {})
                return
            try:
                body = json.loads(raw)
            except ValueError:
                self._send(400, b'{"error": {"message": "not JSON"}}', {})
                return
            auth = self.headers.get("Authorization", "")
            reply = double._take(body, auth.removeprefix("Bearer ") if auth else None)
            data = reply.body
            if reply.status == 200 and data is None:
                data = spoken_audio(str(body.get("input", "")), body.get("response_format", "mp3"))
            self._send(reply.status, data or b"", reply.headers)

        def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002
            pass

    return Handler
