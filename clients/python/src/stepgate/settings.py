"""What a GateClient needs: brokers, its signing credential, receipt keys, and Kafka transport settings."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_TOPIC_PREFIX = "stepgate."


@dataclass(frozen=True)
class GateClientSettings:
    brokers: str
    """Bootstrap servers, comma-separated (``127.0.0.1:9092``)."""
    key_id: str
    """The credential this client signs with (``stepgate credentials create``)."""
    private_key_pem: str
    receipt_public_key_pem: str | None = None
    """One receipt key every receipt must verify with, whatever key id it names."""
    receipt_public_keys: Mapping[str, str] | None = None
    """Receipt keys by ``key_id`` (list old and new while the services' key is rotated)."""
    receipt_keys_url: str | None = None
    """Where the services publish their receipt keys (``https://…/receipt-keys``): fetched at connect, pinned."""
    insecure_skip_receipt_verification: bool = False
    """Accept decisions without checking receipts. Tests and demos only."""
    tenant_id: str | None = None
    """The credential's tenant, when known: decisions naming another tenant are ignored."""
    topic_prefix: str = DEFAULT_TOPIC_PREFIX
    client_id: str | None = None
    timeout_s: float = 30.0
    """Default time to wait for a decision (and, separately, for an approval outcome)."""
    kafka_config: Mapping[str, Any] = field(default_factory=dict)
    """librdkafka settings passed to the producer and the consumer as given (``security.protocol``,
    ``sasl.mechanism``, ``ssl.ca.location``, …)."""

    @classmethod
    def from_key_file(cls, path: str | os.PathLike[str], **overrides: Any) -> GateClientSettings:
        """From the JSON ``stepgate credentials create`` writes (key_id, tenant_id, private_key_pem)."""
        cred = json.loads(Path(path).read_text())
        return cls(
            **{
                "brokers": "127.0.0.1:9092",
                "key_id": cred["key_id"],
                "private_key_pem": cred["private_key_pem"],
                "tenant_id": cred.get("tenant_id"),
                **overrides,
            }
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> GateClientSettings:
        """From ``STEPGATE_KEY_FILE`` (required), ``KAFKA_BROKERS``, ``STEPGATE_TOPIC_PREFIX``,
        ``STEPGATE_RECEIPT_KEYS_URL``, ``STEPGATE_RECEIPT_PUBLIC_KEY_FILE`` and ``STEPGATE_KAFKA_CONFIG``
        (a JSON object of librdkafka settings)."""
        e = os.environ if env is None else env
        values: dict[str, Any] = {"brokers": e.get("KAFKA_BROKERS", "127.0.0.1:9092")}
        if "STEPGATE_TOPIC_PREFIX" in e:
            values["topic_prefix"] = e["STEPGATE_TOPIC_PREFIX"]
        if "STEPGATE_RECEIPT_KEYS_URL" in e:
            values["receipt_keys_url"] = e["STEPGATE_RECEIPT_KEYS_URL"]
        if "STEPGATE_RECEIPT_PUBLIC_KEY_FILE" in e:
            values["receipt_public_key_pem"] = Path(e["STEPGATE_RECEIPT_PUBLIC_KEY_FILE"]).read_text()
        if "STEPGATE_KAFKA_CONFIG" in e:
            values["kafka_config"] = json.loads(e["STEPGATE_KAFKA_CONFIG"])
        return cls.from_key_file(e["STEPGATE_KEY_FILE"], **{**values, **overrides})

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"
