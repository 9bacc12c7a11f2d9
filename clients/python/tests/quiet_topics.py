"""Answering gate requests by hand on topics no evaluator reads: forged, tampered and misdirected decisions."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stepgate import canonical_json, load_private_key, sign_bytes


@dataclass
class SeenRequest:
    value: bytes
    body: dict[str, Any]
    headers: dict[str, bytes]
    partition: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.value).hexdigest()


class QuietTopics:
    def __init__(self, brokers: str, prefix: str) -> None:
        self.brokers = brokers
        self.prefix = prefix
        self.producer = Producer({"bootstrap.servers": brokers})
        self.consumer = Consumer(
            {"bootstrap.servers": brokers, "group.id": f"quiet-{uuid.uuid4()}", "enable.auto.commit": False}
        )
        topic = f"{prefix}gate.requests"
        partitions = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self.request_partitions = len(partitions)
        self.consumer.assign(
            [
                TopicPartition(topic, p, self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1])
                for p in partitions
            ]
        )

    def next_request(self, timeout_s: float = 20) -> SeenRequest:
        msg = self.consumer.consume(1, timeout=timeout_s)
        assert msg, "no gate request arrived on the quiet topic"
        value = msg[0].value()
        assert value is not None
        raw = msg[0].headers() or []
        items = raw.items() if isinstance(raw, dict) else raw
        headers = {k: v.encode() if isinstance(v, str) else v for k, v in items if v is not None}
        return SeenRequest(value=value, body=json.loads(value), headers=headers, partition=msg[0].partition() or 0)

    def publish_decision(self, decision: dict[str, Any] | bytes) -> None:
        value = decision if isinstance(decision, bytes) else json.dumps(decision).encode()
        self.producer.produce(f"{self.prefix}gate.decisions", value=value, key=b"x")
        self.producer.flush(10)

    def close(self) -> None:
        self.consumer.close()


def decision_for(request: SeenRequest, tenant_id: str, **overrides: Any) -> dict[str, Any]:
    body = request.body
    return {
        "request_id": body["request_id"],
        "decision_id": str(uuid.uuid4()),
        "tenant_id": tenant_id,
        "workflow_id": body["workflow_id"],
        "step_id": body["step_id"],
        "decision": "allow",
        "reason": "answered by the test",
        "policies_evaluated": [],
        "policies_matched": [],
        "retry_context": None,
        "decision_source": "fresh",
        "decided_at": "2026-12-01T10:00:00.000Z",
        "request_sha256": request.sha256,
        "requester_key_id": request.headers["stepgate-key-id"].decode(),
        **overrides,
    }


def signed(body: dict[str, Any], key_id: str, private_key_pem: str) -> dict[str, Any]:
    signature = sign_bytes(load_private_key(private_key_pem), canonical_json(body))
    return {**body, "receipt": {"key_id": key_id, "alg": "Ed25519", "signature": signature}}


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (the Java client's ``Utils.murmur2``), as a signed 32-bit int."""
    m, mask = 0x5BD1E995, 0xFFFFFFFF
    h = (0x9747B28C ^ len(data)) & mask
    whole = len(data) & ~3
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & mask
        k ^= k >> 24
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    rest = len(data) & 3
    if rest:
        for j in reversed(range(rest)):
            h ^= data[whole + j] << (8 * j)
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def generate_test_key() -> str:
    """A fresh Ed25519 private key (PKCS#8 PEM) nobody trusts."""
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
