"""A slow network link for tests: a TCP relay on 127.0.0.1 that caps upstream bandwidth.

Put it between a job and moto's S3 server to make uploads take seconds instead of milliseconds:
the real S3 protocol and the real server, only a slower wire (what a congested uplink does).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

__all__ = ["SlowLink"]

CHUNK = 16 * 1024


class SlowLink:
    """Relay ``127.0.0.1:<port>`` to ``upstream`` ("host:port"), client→server at ``rate`` B/s."""

    def __init__(self, upstream: str, rate_bytes_s: int) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.rate = rate_bytes_s
        self.bytes_up = 0
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
            self._track(client)
            self._track(server)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, throttle: bool) -> None:
        try:
            while not self._stop.is_set():
                data = src.recv(CHUNK)
                if not data:
                    break
                if throttle:
                    self.bytes_up += len(data)
                    if self._stop.wait(len(data) / self.rate):
                        break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def wait_for_upload(self, count: int, timeout_s: float = 60) -> bool:
        """True once at least ``count`` bytes went upstream."""
        deadline = time.monotonic() + timeout_s
        while self.bytes_up < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            for sock in self._socks:
                with contextlib.suppress(OSError):
                    sock.close()
