"""A slow network link for tests: a TCP relay on 127.0.0.1 with latency towards the server.

Put it between a job and moto's S3 server to make uploads take seconds instead of milliseconds:
the real S3 protocol and the real server, only a long wire (every request waits ``latency_s``
before the server sees it, as over a distant uplink). Bandwidth is not capped, so what a client
has sent reaches the server within ``latency_s`` even after the client died.
"""

from __future__ import annotations

import contextlib
import queue
import re
import socket
import threading
import time

__all__ = ["SlowLink"]

CHUNK = 16 * 1024
_REQUEST_LINE = re.compile(rb"(GET|PUT|POST|HEAD|DELETE) (\S+) HTTP/1\.1\r\n")


class SlowLink:
    """Relay ``127.0.0.1:<port>`` to ``upstream`` ("host:port"), client→server ``latency_s``."""

    def __init__(self, upstream: str, latency_s: float) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.latency_s = latency_s
        self.bytes_up = 0
        self.requests: list[str] = []  # "PUT /bucket/key", in the order the client sent them
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._socks.append(sock)
        return sock

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)  # an idle direction must not time out
            self._track(client)
            self._track(server)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, delayed: bool) -> None:
        """Copy ``src`` to ``dst``; when ``delayed``, each chunk leaves ``latency_s`` after it
        arrived (a delay line: a sender thread, so throughput is not limited)."""
        line: queue.Queue[tuple[float, bytes]] = queue.Queue()
        if delayed:
            threading.Thread(target=self._send_later, args=(line, dst), daemon=True).start()
        tail = b""  # the end of the previous chunk: a request line split between two chunks
        try:
            while not self._stop.is_set():
                data = src.recv(CHUNK)
                if not delayed:
                    if not data:
                        break
                    dst.sendall(data)
                    continue
                line.put((time.monotonic() + self.latency_s, data))
                if not data:
                    return  # the sender shuts dst down after the last chunk
                self._note_requests(tail, data)
                tail = data[-512:]
                self.bytes_up += len(data)
        except OSError:
            if delayed:
                line.put((0.0, b""))
                return
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def _note_requests(self, tail: bytes, data: bytes) -> None:
        for match in _REQUEST_LINE.finditer(tail + data):
            if match.end() > len(tail):  # not seen with the previous chunk already
                self.requests.append(f"{match[1].decode()} {match[2].decode(errors='replace')}")

    def _send_later(self, line: queue.Queue[tuple[float, bytes]], dst: socket.socket) -> None:
        try:
            while True:
                due, data = line.get()
                if not data:
                    break
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    return
                dst.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            for sock in self._socks:
                with contextlib.suppress(OSError):
                    sock.close()
