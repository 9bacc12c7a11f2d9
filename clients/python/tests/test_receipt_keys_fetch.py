"""Fetching the published receipt keys: no broker needed. Only https or loopback http (by the parsed
address), no redirect followed, the body capped."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stepgate import ReceiptKeysUnavailableError, fetch_receipt_keys
from stepgate.receipts import MAX_KEY_SET_BYTES

PEM = (
    Ed25519PrivateKey.generate()
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
KEY_SET = json.dumps({"keys": [{"key_id": "k1", "alg": "Ed25519", "public_key_pem": PEM}]}).encode()

Reply = Callable[[BaseHTTPRequestHandler], None]


@pytest.fixture
def serve() -> Iterator[Callable[[Reply], str]]:
    servers: list[ThreadingHTTPServer] = []

    def start(reply: Reply) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                reply(self)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}/receipt-keys"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def body(data: bytes) -> Reply:
    def reply(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("content-length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    return reply


def refusal(url: str) -> str:
    with pytest.raises(ReceiptKeysUnavailableError) as err:
        fetch_receipt_keys(url, timeout_s=5)
    assert err.value.code == "RECEIPT_KEYS_UNAVAILABLE"
    return err.value.reason


def test_reads_a_key_set_from_loopback_http(serve: Callable[[Reply], str]) -> None:
    assert fetch_receipt_keys(serve(body(KEY_SET)))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.attacker.example/receipt-keys",
        "http://127.0.0.1.attacker.example/receipt-keys",
        "http://localhost.attacker.example/receipt-keys",
        "http://10.0.0.1/receipt-keys",
        "ftp://127.0.0.1/receipt-keys",
    ],
)
def test_refuses_plain_http_to_a_host_not_loopback_by_address(url: str) -> None:
    assert refusal(url) == "INSECURE_URL"


def test_does_not_follow_a_redirect(serve: Callable[[Reply], str]) -> None:
    target = serve(body(KEY_SET))

    def redirect(h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("location", target)
        h.send_header("content-length", "0")
        h.end_headers()

    assert refusal(serve(redirect)) == "REDIRECT"


def test_refuses_an_oversize_body(serve: Callable[[Reply], str]) -> None:
    assert refusal(serve(body(b"x" * (MAX_KEY_SET_BYTES + 1)))) == "TOO_LARGE"
