"""The client on the SASL_SSL broker with per-principal ACLs and per-tenant decision topics, configured only
through the services' environment variables (``GateClientSettings.from_env``). Run by
test/secure/python-client.int.test.ts, which sets up the broker's ACLs, the tenants' decisions topics and
an evaluator running as its own Kafka user; skipped elsewhere unless STEPGATE_TEST_REQUIRE_SECURE=1."""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import replace

import pytest

from stepgate import GateClient, GateClientSettings, KafkaRefusedError


@pytest.fixture(scope="module")
def settings() -> GateClientSettings:
    if "STEPGATE_TEST_OTHER_TENANT" not in os.environ:
        if os.environ.get("STEPGATE_TEST_REQUIRE_SECURE") == "1":
            pytest.fail("STEPGATE_TEST_REQUIRE_SECURE=1 but the secure broker's settings are not in the environment")
        pytest.skip("no secure broker: run through test/secure/python-client.int.test.ts")
    return replace(GateClientSettings.from_env(), timeout_s=20)


def refusal(settings: GateClientSettings) -> KafkaRefusedError:
    with pytest.raises(KafkaRefusedError) as refused:
        GateClient(settings).connect()
    return refused.value


def test_gates_as_its_own_principal_reading_only_its_tenants_topic(settings: GateClientSettings) -> None:
    assert settings.kafka.sasl_username == "orchestrator-demo" and settings.tenant_decision_topics
    assert settings.decisions_topic() == f"{settings.topic_prefix}gate.decisions.{settings.tenant_id}"
    with GateClient(settings) as client:
        workflow = f"py-secure-{uuid.uuid4()}"
        allowed = client.gate({"workflow_id": workflow, "step_id": "s1", "step_type": "llm_call", "model": "claude"})
        assert allowed.decision == "allow" and allowed.tenant_id == settings.tenant_id
        blocked = client.gate(
            {
                "workflow_id": workflow,
                "step_id": "s2",
                "step_type": "tool_call",
                "tool_context": {"tool_name": "sql_query", "tool_input": {"query": "DROP TABLE users"}},
            }
        )
        assert blocked.decision == "block" and client.verifies(blocked)


def test_a_wrong_password_is_refused_with_a_code_not_a_hang(settings: GateClientSettings) -> None:
    wrong = GateClientSettings.from_env({**os.environ, "KAFKA_SASL_PASSWORD": "not-the-password"})
    started = time.monotonic()
    assert refusal(wrong).code == "SASL_AUTHENTICATION_FAILED"
    # Refused at the broker's first answer, well before connect_timeout_s.
    assert time.monotonic() - started < wrong.connect_timeout_s


def test_another_tenants_decisions_are_refused_by_the_broker(settings: GateClientSettings) -> None:
    other = replace(settings, tenant_id=os.environ["STEPGATE_TEST_OTHER_TENANT"])
    assert refusal(other).code == "TOPIC_AUTHORIZATION_FAILED"
    # Nor may an orchestrator read the shared topic, where decisions naming no tenant go.
    assert refusal(replace(settings, tenant_decision_topics=False)).code == "TOPIC_AUTHORIZATION_FAILED"
