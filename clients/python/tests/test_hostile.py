"""What arrives on gate.decisions is not trusted: forged, tampered, misdirected and malformed records are
ignored (and counted), and a gate that saw only those fails with the most precise typed error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from conftest import Stack
from quiet_topics import QuietTopics, SeenRequest, decision_for, generate_test_key, murmur2, signed
from stepgate import (
    Decision,
    DecisionMismatchError,
    GateClient,
    GateTimeoutError,
    ReceiptVerificationError,
)
from stepgate.canonical import parse_json

pool = ThreadPoolExecutor(4)


@pytest.fixture
def quiet(stack: Stack) -> Iterator[QuietTopics]:
    q = QuietTopics(stack.brokers, stack.quiet_prefix)
    yield q
    q.close()


@pytest.fixture
def quiet_client(stack: Stack) -> Iterator[GateClient]:
    with GateClient(stack.settings(topic_prefix=stack.quiet_prefix, tenant_id=stack.tenant_id)) as c:
        yield c


def gate_in_background(client: GateClient, step_id: str, timeout_s: float = 20) -> Future[Decision]:
    return pool.submit(
        client.gate, {"workflow_id": "py-quiet", "step_id": step_id, "step_type": "llm_call"}, timeout_s=timeout_s
    )


def sign(stack: Stack, body: dict[str, object]) -> dict[str, object]:
    return signed(body, stack.receipt_key_id, stack.receipt_private_key_pem)


def test_requests_are_signed_over_their_exact_bytes(quiet: QuietTopics, quiet_client: GateClient, stack: Stack) -> None:
    from stepgate import load_private_key, verify_bytes

    gate_in_background(quiet_client, "signed", timeout_s=1)
    seen = quiet.next_request()
    public = load_private_key(stack.settings().private_key_pem).public_key()
    assert seen.headers["stepgate-key-id"].decode() == stack.settings().key_id
    assert verify_bytes(public, seen.value, seen.headers["stepgate-signature"].decode())


def test_murmur2_gives_the_java_clients_values() -> None:
    # org.apache.kafka.common.utils.UtilsTest#testMurmur2
    for key, value in [
        ("21", -973932308),
        ("foobar", -790332482),
        ("a-little-bit-long-string", -985981536),
        ("a-little-bit-longer-string", -1486304829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    ]:
        assert murmur2(key.encode()) == value


def test_requests_land_on_their_workflows_partition_as_other_clients_put_them(
    quiet: QuietTopics, quiet_client: GateClient
) -> None:
    gate_in_background(quiet_client, "partitioned", timeout_s=1)
    seen = quiet.next_request()
    assert seen.partition == (murmur2(b"py-quiet") & 0x7FFFFFFF) % quiet.request_partitions


def test_misdirected_decisions_are_ignored_until_the_one_that_answers(
    quiet: QuietTopics, quiet_client: GateClient, stack: Stack
) -> None:
    before = quiet_client.stats.refused
    pending = gate_in_background(quiet_client, "misdirected")
    seen: SeenRequest = quiet.next_request()
    for forged in [
        decision_for(seen, stack.tenant_id, request_sha256="0" * 64),  # another request's bytes
        decision_for(seen, "globex"),  # another tenant
        decision_for(seen, stack.tenant_id, workflow_id="other-wf"),
        decision_for(seen, stack.tenant_id, step_id="other-step"),
    ]:
        quiet.publish_decision(sign(stack, {**forged, "decision": "block"}))
    quiet.publish_decision(sign(stack, decision_for(seen, stack.tenant_id)))
    assert pending.result(timeout=20).decision == "allow"
    assert quiet_client.stats.refused - before == 4


def test_a_tampered_receipt_is_never_accepted(quiet: QuietTopics, quiet_client: GateClient, stack: Stack) -> None:
    pending = gate_in_background(quiet_client, "tampered", timeout_s=3)
    seen = quiet.next_request()
    tampered = {**sign(stack, decision_for(seen, stack.tenant_id, decision="block")), "decision": "allow"}
    quiet.publish_decision(tampered)
    with pytest.raises(ReceiptVerificationError) as err:
        pending.result(timeout=20)
    assert err.value.code == "RECEIPT_UNVERIFIED"
    assert err.value.decision.decision == "allow"


def test_a_receipt_by_a_key_not_trusted_is_refused(quiet: QuietTopics, quiet_client: GateClient, stack: Stack) -> None:
    pending = gate_in_background(quiet_client, "wrong-key", timeout_s=3)
    seen = quiet.next_request()
    body = decision_for(seen, stack.tenant_id)
    quiet.publish_decision(signed(body, stack.receipt_key_id, generate_test_key()))  # the right key id, another key
    quiet.publish_decision(signed(body, "someone-else", generate_test_key()))
    with pytest.raises(ReceiptVerificationError):
        pending.result(timeout=20)


def test_only_mismatched_decisions_fail_with_decision_mismatch(
    quiet: QuietTopics, quiet_client: GateClient, stack: Stack
) -> None:
    pending = gate_in_background(quiet_client, "mismatch", timeout_s=3)
    seen = quiet.next_request()
    quiet.publish_decision(sign(stack, decision_for(seen, stack.tenant_id, request_sha256="f" * 64)))
    with pytest.raises(DecisionMismatchError) as err:
        pending.result(timeout=20)
    assert (err.value.code, err.value.seen) == ("DECISION_MISMATCH", 1)


def test_no_answer_is_a_timeout(quiet: QuietTopics, quiet_client: GateClient) -> None:
    pending = gate_in_background(quiet_client, "silence", timeout_s=1)
    quiet.next_request()
    with pytest.raises(GateTimeoutError) as err:
        pending.result(timeout=20)
    assert (err.value.code, err.value.waiting_for) == ("GATE_TIMEOUT", "decision")


def test_records_that_are_not_decisions_are_skipped_and_counted(
    quiet: QuietTopics, quiet_client: GateClient, stack: Stack
) -> None:
    garbage = [
        b"not json",
        b"\xff\xfe\x00\x1b",
        b"[" * 100_000 + b"]" * 100_000,
        json.dumps({"request_id": "r", "decision": "allow"}).encode(),
        b"",
        b'{"request_id": NaN}',
    ]
    before = quiet_client.stats.undecodable
    pending = gate_in_background(quiet_client, "garbage")
    seen = quiet.next_request()
    for g in garbage:
        quiet.publish_decision(g)
    # A decision with a field of the wrong type is not one either.
    quiet.publish_decision(sign(stack, decision_for(seen, stack.tenant_id, retry_context="1")))
    quiet.publish_decision(sign(stack, decision_for(seen, stack.tenant_id)))
    assert pending.result(timeout=20).decision == "allow"
    assert quiet_client.stats.undecodable - before == len(garbage) + 1


def test_depth_is_checked_before_parsing() -> None:
    with pytest.raises(ValueError, match="deeper"):
        parse_json(b"[" * 33 + b"]" * 33)
    assert parse_json(b"[" * 32 + b"]" * 32) is not None
