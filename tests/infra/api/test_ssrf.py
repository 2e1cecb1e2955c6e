"""SSRF: URLs that resolve to loopback (not allowlisted), the metadata address or a private
network are refused before any connection; an allowlisted server redirecting to one is refused
by the job's probe stage before it connects there."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.infra.api.conftest import ALLOWED_HOST
from tests.infra.api.jobs import inbox_source, wait_terminal

pytestmark = [
    pytest.mark.api,
    pytest.mark.prefect,
    pytest.mark.s3,
    pytest.mark.postgres,
    pytest.mark.timeout(600),
]


class Listener:
    """A TCP port on ``host`` that counts the connections it accepted."""

    def __init__(self, host: str) -> None:
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture()
def listener() -> Iterator[Listener]:
    found = Listener("127.0.0.1")
    yield found
    found.close()


def test_refused_at_submit_before_any_connection(api_stack, listener: Listener):
    key = api_stack.key()
    refused = [
        f"https://vm:{listener.port}/doc.pdf",  # a name that resolves to 127.0.0.1
        f"https://localhost:{listener.port}/doc.pdf",
        f"https://127.0.0.1:{listener.port}/doc.pdf",
        f"http://127.0.0.1:{listener.port}/doc.pdf",
        "https://169.254.169.254/latest/meta-data/iam/doc.pdf",
        "https://10.0.0.1/doc.pdf",
        "https://user:pw@example.invalid/doc.pdf",
    ]
    with api_stack.gateway.client(key) as client:
        answers = [client.post("/v1/jobs", json={"source": url}) for url in refused]
        callback = client.post(
            "/v1/jobs",
            json={"source": inbox_source(api_stack), "callback_url": "https://169.254.169.254/x"},
        )
        listed = client.get("/v1/jobs").json()["jobs"]
    for url, answer in zip(refused, answers, strict=True):
        assert answer.status_code == 422, (url, answer.text)
        assert answer.json()["error"]["code"] == "url_refused", url
    assert callback.status_code == 422 and callback.json()["error"]["code"] == "url_refused"
    assert "callback URL" in callback.json()["error"]["message"]
    assert listed == []  # no job was created
    assert listener.accepted == 0


class Redirector(BaseHTTPRequestHandler):
    target = ""
    hits = 0

    def do_GET(self) -> None:  # noqa: N802
        type(self).hits += 1
        self.send_response(302)
        self.send_header("Location", type(self).target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.media
@pytest.mark.timeout(600)
@pytest.mark.parametrize("where", ["loopback", "metadata"])
def test_redirect_to_a_refused_address_fails_the_job_without_connecting(api_stack, where: str):
    inner = Listener("127.0.0.2")
    handler = type("Handler", (Redirector,), {"hits": 0})
    handler.target = (
        f"https://127.0.0.2:{inner.port}/doc.pdf"
        if where == "loopback"
        else "http://169.254.169.254/latest/meta-data/doc.pdf"
    )
    server = ThreadingHTTPServer((ALLOWED_HOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        key = api_stack.key()
        source = f"http://{ALLOWED_HOST}:{server.server_address[1]}/doc.pdf"
        with api_stack.gateway.client(key) as client:
            submitted = client.post("/v1/jobs", json={"source": source, "preset": "tiny"})
            assert submitted.status_code == 202, submitted.text
            done = wait_terminal(client, submitted.json()["id"])
    finally:
        server.shutdown()
        server.server_close()
        inner.close()
    assert done["status"] == "FAILED" and done["error"]["code"] == "url_refused", done
    assert handler.hits == 1  # the allowlisted server was asked once...
    assert inner.accepted == 0  # ...and the address it redirected to never
