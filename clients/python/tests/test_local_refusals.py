"""Gate requests the evaluator could not answer to their sender are refused before sending, by code and
path (packages/client/test/local-refusal.test.ts holds the same cases for the TypeScript client). No broker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from quiet_topics import generate_test_key
from stepgate import GateClient, GateClientSettings, RefusedLocallyError, UnencodableValueError
from stepgate.canonical import MAX_VALUE_BYTES
from stepgate.local_refusals import MAX_ANSWERABLE_ID_CHARS, MAX_ECHO_CHARS, answerable_id, local_refusal
from stepgate.request_ids import new_request_id


def outgoing(**over: Any) -> tuple[dict[str, Any], bytes]:
    """The request as ``gate()`` sends it, and its exact bytes."""
    request = {
        "workflow_id": "wf",
        "step_id": "deploy",
        "step_type": "tool_call",
        "request_id": new_request_id(),
        "requested_at": datetime.now(UTC).isoformat(),
        **over,
    }
    return request, json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode()


def of_size(size: int) -> tuple[dict[str, Any], bytes]:
    """A request whose encoded value is exactly ``size`` bytes (padded in step_input)."""
    request_id = new_request_id()
    _, empty = outgoing(request_id=request_id, step_input={"pad": ""})
    request, value = outgoing(request_id=request_id, step_input={"pad": "x" * (size - len(empty))})
    assert len(value) == size
    return request, value


def refusal_of(**over: Any) -> RefusedLocallyError | None:
    return local_refusal(*outgoing(**over))


def assert_refused(refused: RefusedLocallyError | None, path: str) -> None:
    assert isinstance(refused, RefusedLocallyError)
    assert (refused.code, refused.path) == ("INVALID_REQUEST", path)


def test_a_value_over_the_limit_is_refused_one_at_the_limit_is_not() -> None:
    assert local_refusal(*of_size(MAX_VALUE_BYTES)) is None
    assert_refused(local_refusal(*of_size(MAX_VALUE_BYTES + 1)), "(root)")


@pytest.mark.parametrize(
    "request_id",
    [
        f"{new_request_id()}\x00",
        "r" * (MAX_ANSWERABLE_ID_CHARS + 1),
        "😀" * 65,  # 130 UTF-16 code units
        "",
        42,
    ],
)
def test_a_request_id_the_evaluator_cannot_answer_to(request_id: object) -> None:
    assert_refused(refusal_of(request_id=request_id), "request_id")


@pytest.mark.parametrize(
    "request_id",
    [
        new_request_id(),
        new_request_id().upper(),
        "00000000-0000-0000-0000-000000000000",
        # Not a UUID: the evaluator refuses it under the tenant, and the caller gets that decision.
        "r-1",
        "r" * MAX_ANSWERABLE_ID_CHARS,
    ],
)
def test_a_request_id_the_evaluator_answers_to(request_id: str) -> None:
    assert answerable_id(request_id)
    assert refusal_of(request_id=request_id) is None


@pytest.mark.parametrize("field", ["workflow_id", "step_id"])
def test_an_id_a_refusal_could_not_echo(field: str) -> None:
    for refused in ["wf\x00", "wf\udc00", "w" * (MAX_ECHO_CHARS + 1), "😀" * 128, None, 7]:
        assert_refused(local_refusal({**outgoing()[0], field: refused}, outgoing()[1]), field)
    assert refusal_of(**{field: "w" * MAX_ECHO_CHARS}) is None
    # The contract counts UTF-16 code units: 127 emoji are 254.
    assert refusal_of(**{field: "😀" * 127}) is None


def test_what_the_evaluator_refuses_under_the_signers_tenant_is_left_to_it() -> None:
    assert refusal_of(model="claude\x00", step_type="teleport", tenant_id="globex") is None


@pytest.fixture
def unconnected() -> Iterator[GateClient]:
    settings = GateClientSettings(
        brokers="127.0.0.1:1",
        key_id="sgk_test",
        private_key_pem=generate_test_key(),
        insecure_skip_receipt_verification=True,
    )
    client = GateClient(settings)
    yield client
    client.close()


def test_gate_raises_before_sending_and_leaves_no_wait(unconnected: GateClient) -> None:
    # Never connected: a request that got as far as publishing would raise ClientClosedError instead.
    pad = "x" * MAX_VALUE_BYTES
    with pytest.raises(RefusedLocallyError) as too_large:
        unconnected.gate({"workflow_id": "wf", "step_id": "s", "step_type": "llm_call", "step_input": {"pad": pad}})
    assert (too_large.value.code, too_large.value.path) == ("INVALID_REQUEST", "(root)")
    with pytest.raises(RefusedLocallyError) as bad_id:
        unconnected.gate({"workflow_id": "wf", "step_id": "s", "step_type": "llm_call", "request_id": "r" * 129})
    assert bad_id.value.path == "request_id"
    with pytest.raises(UnencodableValueError) as unencodable:
        unconnected.gate({"workflow_id": "wf\ud800", "step_id": "s", "step_type": "llm_call"})
    assert (unencodable.value.code, unencodable.value.path) == ("INVALID_REQUEST", "workflow_id")
    assert not unconnected._by_request


def test_complete_raises_before_sending_a_completion_over_the_limit(unconnected: GateClient) -> None:
    # Never connected: a completion that got as far as publishing would raise ClientClosedError instead.
    with pytest.raises(RefusedLocallyError) as too_large:
        unconnected.complete({"workflow_id": "wf", "step_id": "s", "output": "x" * MAX_VALUE_BYTES})
    assert (too_large.value.code, too_large.value.path) == ("INVALID_REQUEST", "(root)")
