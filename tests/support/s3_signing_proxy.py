"""An S3 endpoint that enforces AWS Signature V4, in front of moto's S3 server (which does not).

Why: moto accepts unsigned and wrongly signed requests, so a test against it cannot prove that a
URL handed to a player is really signed. This proxy recomputes the SigV4 signature of every
request, header-signed (the minio SDK) and query-signed (presigned URLs) alike, from the request
as it arrived (method, raw path, query, the signed headers, the payload hash), checks presigned
URLs' expiry and the payload's sha256, and answers 403 (S3's XML error) to anything unsigned,
wrongly signed or expired; everything else goes to moto unchanged. The signature code is written
from the AWS specification, independent of the minio SDK that signs, so the two check each other.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote

__all__ = ["SigningProxy", "sigv4_problem"]

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


def _query_pairs(raw: str) -> list[tuple[str, str]]:
    pairs = []
    for item in raw.split("&") if raw else []:
        key, _, value = item.partition("=")
        pairs.append((unquote(key), unquote(value)))
    return pairs


def _canonical_query(pairs: list[tuple[str, str]]) -> str:
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def sigv4_problem(
    method: str,
    target: str,
    headers: dict[str, str],
    body_sha256: str,
    credentials: dict[str, str],
    now: datetime | None = None,
) -> str | None:
    """Why the request is not validly signed (None when it is). ``target`` is the raw request
    target (path and query as sent), ``headers`` lower-cased names."""
    now = now or datetime.now(UTC)
    path, _, raw_query = target.partition("?")
    pairs = _query_pairs(raw_query)
    query = dict(pairs)
    if "X-Amz-Signature" in query:
        if query.get("X-Amz-Algorithm") != ALGORITHM:
            return "unsupported algorithm"
        credential, amz_date = query.get("X-Amz-Credential", ""), query.get("X-Amz-Date", "")
        signed = query.get("X-Amz-SignedHeaders", "")
        given = query["X-Amz-Signature"]
        try:
            issued = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            expires = int(query.get("X-Amz-Expires", "0"))
        except ValueError:
            return "bad date or expiry"
        if now > issued + timedelta(seconds=expires):
            return "expired"
        payload = UNSIGNED
        pairs = [(k, v) for k, v in pairs if k != "X-Amz-Signature"]
    elif headers.get("authorization", "").startswith(ALGORITHM + " "):
        fields = dict(
            part.strip().split("=", 1)
            for part in headers["authorization"][len(ALGORITHM) + 1 :].split(",")
            if "=" in part
        )
        credential, signed = fields.get("Credential", ""), fields.get("SignedHeaders", "")
        given = fields.get("Signature", "")
        amz_date = headers.get("x-amz-date", "")
        payload = headers.get("x-amz-content-sha256", "")
        if not payload:
            return "no x-amz-content-sha256"
        if payload != UNSIGNED and payload != body_sha256:
            return "payload hash mismatch"
    else:
        return "unsigned"
    access_key, _, scope = credential.partition("/")
    date, region, service, terminal = ([*scope.split("/"), "", "", "", ""])[:4]
    if access_key != credentials["access_key"] or terminal != "aws4_request":
        return "unknown credential"
    names = signed.split(";") if signed else []
    if "host" not in names or any(name not in headers for name in names):
        return "signed headers missing"
    canonical_headers = "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in names)
    canonical = "\n".join(
        [method, path, _canonical_query(pairs), canonical_headers, signed, payload]
    )
    to_sign = "\n".join(
        [
            ALGORITHM,
            amz_date,
            f"{date}/{region}/{service}/aws4_request",
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = _signing_key(credentials["secret_key"], date, region, service)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return None if hmac.compare_digest(expected, given) else "signature mismatch"


class SigningProxy:
    """``127.0.0.1:<port>`` checking SigV4, forwarding to ``upstream`` (host:port)."""

    def __init__(self, upstream: str, access_key: str, secret_key: str) -> None:
        self.upstream = upstream
        self.credentials = {"access_key": access_key, "secret_key": secret_key}
        self.refused: list[tuple[str, str, str]] = []  # (method, path, why)
        self.forwarded = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                why = sigv4_problem(
                    self.command,
                    self.path,
                    headers,
                    hashlib.sha256(body).hexdigest(),
                    proxy.credentials,
                )
                if why is not None:
                    proxy.refused.append((self.command, self.path.split("?")[0], why))
                    code = "AccessDenied" if why == "unsigned" else "SignatureDoesNotMatch"
                    xml = f"<Error><Code>{code}</Code><Message>{why}</Message></Error>".encode()
                    self.send_response(403)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(xml)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(xml)
                    return
                proxy.forwarded += 1
                host, _, port = proxy.upstream.partition(":")
                upstream = http.client.HTTPConnection(host, int(port), timeout=60)
                try:
                    forward = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    upstream.request(self.command, self.path, body=body or None, headers=forward)
                    answer = upstream.getresponse()
                    data = answer.read()
                    self.send_response(answer.status, answer.reason)
                    for name, value in answer.getheaders():
                        if name.lower() not in HOP_BY_HOP | {"content-length"}:
                            self.send_header(name, value)
                    if self.command == "HEAD":
                        self.send_header(
                            "Content-Length", answer.getheader("Content-Length") or "0"
                        )
                    else:
                        self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> SigningProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
