"""GateClient: publishes signed gate requests on Kafka and returns each one's verified decision."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

from confluent_kafka import OFFSET_END, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from pydantic import ValidationError

from .canonical import MAX_JSON_DEPTH, parse_json
from .errors import (
    ClientClosedError,
    DecisionMismatchError,
    GateRefusedError,
    GateTimeoutError,
    KafkaRefusedError,
    ReceiptKeysRequiredError,
    ReceiptVerificationError,
    StepGateError,
    UnencodableValueError,
)
from .local_refusals import COMPLETION_SIZE_HINT, local_refusal, size_refusal
from .models import Decision, GateStep, StepCompletion
from .receipts import ReceiptKeys, fetch_receipt_keys
from .request_ids import new_request_id
from .settings import GateClientSettings
from .signing import load_private_key, sign_bytes

HEADER_KEY_ID = "stepgate-key-id"
HEADER_SIGNATURE = "stepgate-signature"
# A decision fits the broker (the evaluator replaces one over 256 KiB): anything far larger is not one.
MAX_DECISION_BYTES = 1024 * 1024
MAX_REMEMBERED_OUTCOMES = 10_000
_POLL_S = 0.05
# Errors the brokers answer with for good (wrong credentials, an ACL): a connect stops at the first.
_AUTHENTICATION_ERRORS = (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED)
_AUTHORIZATION_ERRORS = (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED)
# Transient metadata answers (a topic just created, a leader moving): asked again until the deadline.
_RETRIABLE_TOPIC_ERRORS = (KafkaError.LEADER_NOT_AVAILABLE, KafkaError._TRANSPORT, KafkaError._TIMED_OUT)


class PublishError(StepGateError):
    """Kafka did not accept a request or completion."""

    code = "PUBLISH_FAILED"


@dataclass(frozen=True)
class GateClientStats:
    undecodable: int
    """Records on gate.decisions that are not a decision (not JSON, too deep or large, wrong shape): skipped."""
    refused: int
    """Decisions ignored because their receipt did not verify or they did not answer the request sent."""


@dataclass
class _Waiter:
    answers: Callable[[Decision], bool]
    future: Future[Decision] = field(default_factory=Future)
    refused_receipt: Decision | None = None
    mismatched: int = 0


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _same_id(a: str | None, b: str | None) -> bool:
    # Workflow ids are case-insensitive in the step ledger; an approval outcome carries the first gate's spelling.
    return a is not None and b is not None and a.lower() == b.lower()


class GateClient:
    """Gates steps: ``gate(step)`` signs the exact bytes it publishes and returns the decision that answers them.

    A decision is accepted only when its receipt verifies with a trusted receipt key (picked by ``key_id``)
    and it answers the request sent: ``request_sha256`` of the exact bytes, the workflow, the step and,
    when configured, the tenant. Anything else on ``gate.decisions`` is ignored and counted in ``stats``.
    """

    def __init__(self, settings: GateClientSettings, *, replay_from: datetime | None = None) -> None:
        self.settings = settings
        self._key = load_private_key(settings.private_key_pem)
        self._receipt_keys = ReceiptKeys(settings.receipt_public_keys, settings.receipt_public_key_pem)
        if not self._receipt_keys and not settings.receipt_keys_url and not settings.insecure_skip_receipt_verification:
            raise ReceiptKeysRequiredError()
        # Decisions from this instant on (the default: now); an Airflow trigger resuming a wait starts earlier.
        self._replay_from = replay_from
        self._client_id = settings.client_id or f"stepgate-py-{uuid.uuid4().hex[:8]}"
        self._lock = threading.Lock()
        self._by_request: dict[str, _Waiter] = {}
        self._by_approval: dict[str, _Waiter] = {}
        self._outcomes: OrderedDict[str, Decision] = OrderedDict()
        self._undecodable = 0
        self._refused = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def load_receipt_keys(self) -> None:
        """Fetches and pins the published receipt keys (``receipt_keys_url``) unless keys are configured."""
        if not self._receipt_keys and self.settings.receipt_keys_url:
            self._receipt_keys = fetch_receipt_keys(self.settings.receipt_keys_url)

    def connect(self) -> GateClient:
        """Connects and starts reading decisions. A broker's refusal (wrong SASL credentials, an ACL that
        denies the decisions topic) raises ``KafkaRefusedError`` with its code, as does no answer within
        ``connect_timeout_s`` (``CONNECTION_ERROR``)."""
        self.load_receipt_keys()
        errors: deque[KafkaError] = deque(maxlen=32)
        common = {"client.id": self._client_id, **self.settings.librdkafka_config()}
        consumer = Consumer(
            {
                **common,
                # The prefix the secure installation's orchestrator ACLs allow (the TypeScript client's too);
                # nothing is committed: the client reads by assignment from the end.
                "group.id": f"{self.settings.consumer_group_prefix()}{uuid.uuid4()}",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 20,
                "error_cb": errors.append,
            }
        )
        try:
            consumer.assign(self._start_positions(consumer, errors))
        except BaseException:
            consumer.close()
            raise
        # murmur2_random: a key's partition as the Java and TypeScript (kafkajs) clients pick it, so one
        # workflow's requests share a partition whichever client sends them (librdkafka's default hashes
        # with CRC32 instead).
        self._producer = Producer({**common, "linger.ms": 1, "acks": "all", "partitioner": "murmur2_random"})
        self._consumer = consumer
        self._thread = threading.Thread(target=self._consume, name=f"{self._client_id}-decisions", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        with self._lock:
            waiters = [*self._by_request.values(), *self._by_approval.values()]
            self._by_request.clear()
            self._by_approval.clear()
        for w in waiters:
            if not w.future.done():
                w.future.set_exception(ClientClosedError("GateClient closed"))
        if self._consumer:
            self._consumer.close()
        if self._producer:
            self._producer.flush(5)

    def __enter__(self) -> GateClient:
        return self.connect()

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    @property
    def stats(self) -> GateClientStats:
        with self._lock:
            return GateClientStats(undecodable=self._undecodable, refused=self._refused)

    # -- gating ----------------------------------------------------------------------------------

    def gate(self, step: GateStep, *, timeout_s: float | None = None, wait_for_approval: bool = False) -> Decision:
        """Gates a step and returns its decision (``allow``, ``block`` or ``require_approval``).

        A request the services refused (a decision with ``error``) raises ``GateRefusedError`` with the
        wire code; one they could not answer to this client, or would refuse for its size, is not sent
        (``RefusedLocallyError``, ``UnencodableValueError``). With ``wait_for_approval``, a ``require_approval``
        is followed to its outcome.
        """
        timeout = self.settings.timeout_s if timeout_s is None else timeout_s
        request: dict[str, Any] = {
            **step,
            "request_id": step.get("request_id") or new_request_id(),
            "requested_at": _now_iso(),
        }
        value = _encode(request)
        refused = local_refusal(request, value)
        if refused is not None:
            raise refused
        sha256 = hashlib.sha256(value).hexdigest()
        tenant = self.settings.tenant_id

        def answers(d: Decision) -> bool:
            return (
                d.request_sha256 == sha256
                and d.workflow_id == request["workflow_id"]
                and d.step_id == request["step_id"]
                and (tenant is None or d.tenant_id == tenant)
            )

        request_id: str = request["request_id"]
        waiter = self._register(self._by_request, request_id, answers)
        try:
            self._publish("gate.requests", request["workflow_id"], value)
        except BaseException:
            with self._lock:
                self._by_request.pop(request_id, None)
            raise
        decision = self._await(self._by_request, request_id, waiter, timeout, "decision")
        if decision.error is not None:
            raise GateRefusedError(decision)
        if wait_for_approval and decision.decision == "require_approval" and decision.approval_id:
            return self.wait_for_approval(decision, timeout_s=timeout)
        return decision

    def wait_for_approval(self, decision: Decision, *, timeout_s: float | None = None) -> Decision:
        """The outcome (``allow`` or ``block``, ``decision_source: approval``) of a ``require_approval`` decision."""
        if decision.approval_id is None:
            raise ValueError("the decision has no approval_id")
        timeout = self.settings.timeout_s if timeout_s is None else timeout_s
        approval_id = decision.approval_id

        def answers(d: Decision) -> bool:
            return (
                d.decision_source == "approval"
                and d.tenant_id == decision.tenant_id
                and _same_id(d.workflow_id, decision.workflow_id)
                and d.step_id == decision.step_id
            )

        with self._lock:
            known = self._outcomes.get(approval_id)
            if known is not None and answers(known):
                return known
            waiter = _Waiter(answers)
            self._by_approval[approval_id] = waiter
        return self._await(self._by_approval, approval_id, waiter, timeout, "approval", decision.request_id)

    async def agate(
        self, step: GateStep, *, timeout_s: float | None = None, wait_for_approval: bool = False
    ) -> Decision:
        """``gate`` for asyncio code: the wait runs in a worker thread."""
        return await asyncio.to_thread(self.gate, step, timeout_s=timeout_s, wait_for_approval=wait_for_approval)

    def complete(self, completion: StepCompletion) -> None:
        """Reports a gated step finished (it feeds ``step.completion_count`` and ``prior_output_available``).

        One over 256 KiB (a large ``output``) is not sent: ``RefusedLocallyError``, since the evaluator
        would send it to the dlq and nothing answers a completion."""
        body = {**completion, "completion_id": str(uuid.uuid4()), "completed_at": _now_iso()}
        value = _encode(body)
        refused = size_refusal(value, COMPLETION_SIZE_HINT)
        if refused is not None:
            raise refused
        self._publish("step.completions", completion["workflow_id"], value)

    # -- internals -------------------------------------------------------------------------------

    def _topic_partitions(self, consumer: Consumer, topic: str, errors: deque[KafkaError]) -> list[int]:
        """The topic's partitions; a refusal is raised as soon as the broker answers with one."""
        deadline = time.monotonic() + self.settings.connect_timeout_s
        last: KafkaError | None = None
        while True:
            try:
                info = consumer.list_topics(topic, timeout=0.5).topics.get(topic)
                last = info.error if info is not None else None
                if info is not None and info.error is None and info.partitions:
                    return sorted(int(p) for p in info.partitions)
            except KafkaException as err:
                last = err.args[0]
            consumer.poll(0)  # serves error_cb: librdkafka reports a failed authentication only there
            for seen in [*errors, last]:
                if seen is not None and seen.code() in _AUTHENTICATION_ERRORS:
                    raise KafkaRefusedError("SASL_AUTHENTICATION_FAILED", seen.str())
                if seen is not None and seen.code() in _AUTHORIZATION_ERRORS:
                    raise KafkaRefusedError(seen.name(), f"{topic}: {seen.str()}")
            if last is not None and last.code() not in _RETRIABLE_TOPIC_ERRORS:
                raise StepGateError(f"topic {topic}: {last.str()}")
            if time.monotonic() >= deadline:
                latest = errors[-1] if errors else last
                reason = latest.str() if latest is not None else "no answer"
                raise KafkaRefusedError(
                    "CONNECTION_ERROR",
                    f"no broker of {self.settings.brokers} answered in {self.settings.connect_timeout_s:g} s: {reason}",
                )

    def _start_positions(self, consumer: Consumer, errors: deque[KafkaError]) -> list[TopicPartition]:
        topic = self.settings.decisions_topic()
        partitions = self._topic_partitions(consumer, topic, errors)
        if self._replay_from is not None:
            at_ms = int(self._replay_from.timestamp() * 1000)
            found = consumer.offsets_for_times([TopicPartition(topic, p, at_ms) for p in partitions], timeout=10)
            return [tp if tp.offset >= 0 else TopicPartition(topic, tp.partition, OFFSET_END) for tp in found]
        # Concrete end offsets, resolved now: a decision published right after connect() is never skipped.
        return [
            TopicPartition(topic, p, consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1])
            for p in partitions
        ]

    def _publish(self, topic: str, key: str, value: bytes) -> None:
        if self._producer is None:
            raise ClientClosedError("GateClient is not connected (call connect())")
        delivered: Future[None] = Future()

        def on_delivery(err: KafkaError | None, _msg: object) -> None:
            if err is None:
                delivered.set_result(None)
            else:
                delivered.set_exception(PublishError(f"publish to {topic} failed: {err}"))

        headers: list[tuple[str, str | bytes | None]] = [
            (HEADER_KEY_ID, self.settings.key_id.encode()),
            (HEADER_SIGNATURE, sign_bytes(self._key, value).encode()),
        ]
        try:
            self._producer.produce(
                self.settings.topic(topic),
                value=value,
                key=key.encode(),
                headers=headers,
                on_delivery=on_delivery,
            )
        except (KafkaException, BufferError) as err:
            raise PublishError(f"publish to {topic} failed: {err}") from err
        while not delivered.done():
            self._producer.poll(_POLL_S)
        delivered.result()

    def _register(self, table: dict[str, _Waiter], key: str, answers: Callable[[Decision], bool]) -> _Waiter:
        waiter = _Waiter(answers)
        with self._lock:
            table[key] = waiter
        return waiter

    def _await(
        self,
        table: dict[str, _Waiter],
        key: str,
        waiter: _Waiter,
        timeout_s: float,
        waiting_for: Literal["decision", "approval"],
        request_id: str | None = None,
    ) -> Decision:
        try:
            return waiter.future.result(timeout=timeout_s)
        except FutureTimeout:
            with self._lock:
                if table.get(key) is waiter:
                    del table[key]
            if waiter.future.done():  # resolved in the instant after the timeout
                return waiter.future.result()
            # Decisions that failed the checks were ignored; at the deadline, the most precise reason wins.
            if waiter.refused_receipt is not None:
                raise ReceiptVerificationError(waiter.refused_receipt) from None
            if waiter.mismatched:
                raise DecisionMismatchError(request_id or key, waiter.mismatched) from None
            raise GateTimeoutError(request_id or key, timeout_s, waiting_for) from None

    def _consume(self) -> None:
        assert self._consumer is not None
        while not self._stop.is_set():
            msg = self._consumer.poll(0.1)
            if msg is None or msg.error() is not None:
                continue
            self._on_record(msg.value())

    def _decode(self, value: bytes | None) -> Decision | None:
        if value is not None and len(value) <= MAX_DECISION_BYTES:
            try:
                raw = parse_json(value, MAX_JSON_DEPTH)
                if isinstance(raw, dict):
                    return Decision.from_wire(raw)
            except (ValueError, ValidationError, RecursionError):
                pass
        with self._lock:
            self._undecodable += 1
        return None

    def verifies(self, d: Decision) -> bool:
        """Whether the decision's receipt verifies with this client's receipt keys (always, when opted out)."""
        if not self._receipt_keys:
            return self.settings.insecure_skip_receipt_verification
        return self._receipt_keys.verifies(d.raw)

    def _on_record(self, value: bytes | None) -> None:
        d = self._decode(value)
        if d is None:
            return
        outcome = d.decision_source == "approval" and d.approval_id is not None
        verified: bool | None = None
        with self._lock:
            if outcome and d.approval_id is not None:
                verified = self.verifies(d)
                if verified:
                    self._remember(d.approval_id, d)
            by_request = self._by_request.get(d.request_id)
            by_approval = self._by_approval.get(d.approval_id) if outcome and d.approval_id else None
            waiter = by_request or by_approval
            if waiter is None:
                return
            # A decision that fails a check is ignored (and counted), not fatal: whoever can write to the
            # decisions topic must not be able to fail another client's gate by answering first.
            if not (self.verifies(d) if verified is None else verified):
                self._refused += 1
                waiter.refused_receipt = d
                return
            if not waiter.answers(d):
                self._refused += 1
                waiter.mismatched += 1
                return
            if waiter is by_request:
                del self._by_request[d.request_id]
                # An outcome seen before this require_approval belongs to an earlier round of the approval.
                if d.decision == "require_approval" and d.approval_id:
                    self._outcomes.pop(d.approval_id, None)
            elif d.approval_id is not None:
                del self._by_approval[d.approval_id]
        if not waiter.future.done():
            waiter.future.set_result(d)

    def _remember(self, approval_id: str, d: Decision) -> None:
        self._outcomes[approval_id] = d
        self._outcomes.move_to_end(approval_id)
        while len(self._outcomes) > MAX_REMEMBERED_OUTCOMES:
            self._outcomes.popitem(last=False)


def decision_from_resume(value: Mapping[str, Any] | Decision) -> Decision:
    """A decision handed back in a resume value (LangGraph) or a trigger event (Airflow), revalidated."""
    return Decision.from_wire(dict(value.raw if isinstance(value, Decision) else value))


def _encode(body: Mapping[str, Any]) -> bytes:
    """The message's UTF-8 JSON; a string with a lone surrogate (no UTF-8 form) is refused naming its path."""
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except UnicodeEncodeError:
        raise UnencodableValueError(_lone_surrogate_path(body) or "(root)") from None


def _lone_surrogate_path(value: Any, path: str = "") -> str | None:
    def has_surrogate(text: str) -> bool:
        return any(0xD800 <= ord(c) <= 0xDFFF for c in text)

    if isinstance(value, str):
        return path if has_surrogate(value) else None
    items: list[tuple[str, Any]] = []
    if isinstance(value, Mapping):
        for key, child in value.items():
            child_path = f"{path}.{key}" if path else str(key)
            if has_surrogate(str(key)):
                return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in child_path)
            items.append((child_path, child))
    elif isinstance(value, (list, tuple)):
        items = [(f"{path}[{i}]", child) for i, child in enumerate(value)]
    for child_path, child in items:
        found = _lone_surrogate_path(child, child_path)
        if found is not None:
            return found
    return None
