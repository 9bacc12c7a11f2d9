"""What a GateClient needs: brokers, its signing credential, receipt keys, and Kafka transport settings."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SettingsError
from .security import KafkaSecurity
from .topics import DEFAULT_TOPIC_PREFIX, client_group_prefix, has_tenant_decision_topic, tenant_decision_topic

__all__ = ["DEFAULT_TOPIC_PREFIX", "GateClientSettings"]

# A credential's key id as the evaluator looks one up (KEY_ID_PATTERN in the contract, without its anchors).
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")


@dataclass(frozen=True)
class GateClientSettings:
    brokers: str
    """Bootstrap servers, comma-separated (``127.0.0.1:9092``)."""
    key_id: str
    """The credential this client signs with (``stepgate credentials create``)."""
    private_key_pem: str = field(repr=False)
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
    tenant_decision_topics: bool = False
    """The installation publishes decisions per tenant (STEPGATE_TENANT_DECISION_TOPICS): read only
    ``<prefix>gate.decisions.<tenant_id>``, the one decisions topic the orchestrator's Kafka principal may
    read, instead of the shared ``<prefix>gate.decisions``. Needs ``tenant_id``."""
    topic_prefix: str = DEFAULT_TOPIC_PREFIX
    client_id: str | None = None
    timeout_s: float = 30.0
    """Default time to wait for a decision (and, separately, for an approval outcome)."""
    connect_timeout_s: float = 15.0
    """How long ``connect()`` waits for the brokers before ``KafkaRefusedError`` (``CONNECTION_ERROR``)."""
    kafka: KafkaSecurity = field(default_factory=KafkaSecurity)
    """TLS and SASL to the brokers, by name (``KafkaSecurity.from_env`` reads the services' variables)."""
    kafka_config: Mapping[str, Any] = field(default_factory=dict, repr=False)
    """Any other librdkafka settings, passed to the producer and the consumer as given; applied after
    ``kafka``, so a key given here wins."""

    def __post_init__(self) -> None:
        # One the evaluator would not even look up: every request refused unattributed, each gate a timeout.
        if not isinstance(self.key_id, str) or not KEY_ID_PATTERN.fullmatch(self.key_id):
            raise SettingsError("key_id", f"a credential's key id ({KEY_ID_PATTERN.pattern})")
        if self.tenant_decision_topics and (self.tenant_id is None or not has_tenant_decision_topic(self.tenant_id)):
            raise SettingsError(
                "tenant_id",
                "a tenant id that names a topic (letters, digits, _ and -, at most 64) with tenant_decision_topics",
            )

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
        ``STEPGATE_TENANT_DECISION_TOPICS`` (true/false), ``STEPGATE_RECEIPT_KEYS_URL``,
        ``STEPGATE_RECEIPT_PUBLIC_KEY_FILE``, the Kafka TLS and SASL variables the services read
        (``KafkaSecurity.from_env``: ``KAFKA_SSL*``, ``KAFKA_SASL_*``) and ``STEPGATE_KAFKA_CONFIG`` (a JSON
        object of any other librdkafka settings). An unusable value raises ``SettingsError`` naming it."""
        e = os.environ if env is None else env
        values: dict[str, Any] = {
            "brokers": e.get("KAFKA_BROKERS", "127.0.0.1:9092"),
            "kafka": KafkaSecurity.from_env(e),
        }
        if "STEPGATE_TENANT_DECISION_TOPICS" in e:
            flag = e["STEPGATE_TENANT_DECISION_TOPICS"].strip()
            if flag not in ("true", "false"):
                raise SettingsError("STEPGATE_TENANT_DECISION_TOPICS", "true or false")
            values["tenant_decision_topics"] = flag == "true"
        if "STEPGATE_TOPIC_PREFIX" in e:
            values["topic_prefix"] = e["STEPGATE_TOPIC_PREFIX"]
        if "STEPGATE_RECEIPT_KEYS_URL" in e:
            values["receipt_keys_url"] = e["STEPGATE_RECEIPT_KEYS_URL"]
        if "STEPGATE_RECEIPT_PUBLIC_KEY_FILE" in e:
            values["receipt_public_key_pem"] = Path(e["STEPGATE_RECEIPT_PUBLIC_KEY_FILE"]).read_text()
        if "STEPGATE_KAFKA_CONFIG" in e:
            try:
                config = json.loads(e["STEPGATE_KAFKA_CONFIG"])
            except ValueError:
                config = None
            if not isinstance(config, dict):
                raise SettingsError("STEPGATE_KAFKA_CONFIG", "a JSON object of librdkafka settings")
            values["kafka_config"] = config
        if "STEPGATE_KEY_FILE" not in e:
            raise SettingsError("STEPGATE_KEY_FILE", "the path of the credential's JSON key file")
        return cls.from_key_file(e["STEPGATE_KEY_FILE"], **{**values, **overrides})

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def decisions_topic(self) -> str:
        """The topic this client reads decisions from: its tenant's own, or the shared one."""
        if self.tenant_decision_topics and self.tenant_id is not None:
            return tenant_decision_topic(self.tenant_id, self.topic_prefix)
        return self.topic("gate.decisions")

    def consumer_group_prefix(self) -> str:
        """The group prefix the orchestrator ACLs grant: its tenant's when it reads its tenant's topic."""
        own_tenant = self.tenant_id if self.tenant_decision_topics else None
        return client_group_prefix(own_tenant)

    def librdkafka_config(self) -> dict[str, Any]:
        """Brokers, the named security settings, then ``kafka_config``."""
        return {"bootstrap.servers": self.brokers, **self.kafka.librdkafka_config(), **self.kafka_config}
