"""Typed errors: every refusal carries a ``code``; callers branch on the type or the code, never on text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .models import Decision


class StepGateError(Exception):
    """Base of every error this package raises; ``code`` names the reason."""

    code: str = "STEPGATE_ERROR"


class SettingsError(StepGateError, ValueError):
    """A setting that cannot be used (half-given TLS or SASL, an unreadable file, a bad value); ``variable``
    names it: the environment variable when read by ``from_env``, else the settings field."""

    code = "INVALID_SETTINGS"

    def __init__(self, variable: str, expected: str) -> None:
        super().__init__(f"{variable}: expected {expected}")
        self.variable = variable
        self.expected = expected


class KafkaRefusedError(StepGateError):
    """The brokers refused this client; ``code`` says why, as the TypeScript side's ``kafkaRefusal`` does:
    ``SASL_AUTHENTICATION_FAILED`` (wrong credentials), ``TOPIC_AUTHORIZATION_FAILED`` (an ACL denies the
    topic: another tenant's decisions, or the shared topic under per-tenant ACLs) or ``CONNECTION_ERROR``
    (no broker answered, or TLS failed)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class ReceiptKeysRequiredError(StepGateError):
    """Neither receipt keys nor the explicit insecure opt-out were configured."""

    code = "RECEIPT_KEYS_REQUIRED"

    def __init__(self) -> None:
        super().__init__(
            "GateClient needs receipt keys (receipt_public_key_pem, receipt_public_keys or receipt_keys_url) "
            "to check decisions; insecure_skip_receipt_verification=True opts out"
        )


class ReceiptKeysUnavailableError(StepGateError):
    """The published receipt keys could not be fetched, or the URL is not one to trust; ``reason`` says
    which check refused them (INSECURE_URL, REDIRECT, TOO_LARGE, UNREACHABLE, INVALID_KEY_SET)."""

    code = "RECEIPT_KEYS_UNAVAILABLE"

    def __init__(self, message: str, reason: str = "INVALID_KEY_SET") -> None:
        super().__init__(message)
        self.reason = reason


class GateTimeoutError(StepGateError):
    """No decision (or approval outcome) that passed the checks arrived in time."""

    code = "GATE_TIMEOUT"

    def __init__(self, request_id: str, waited_s: float, waiting_for: Literal["decision", "approval"]) -> None:
        super().__init__(f"no {waiting_for} for gate request {request_id} within {waited_s:g} s")
        self.request_id = request_id
        self.waited_s = waited_s
        self.waiting_for = waiting_for


class ReceiptVerificationError(StepGateError):
    """Decisions arrived for the request, but the receipt of none verified with the configured keys."""

    code = "RECEIPT_UNVERIFIED"

    def __init__(self, decision: Decision) -> None:
        super().__init__(
            f"a decision arrived whose receipt (key_id {decision.receipt.key_id}) does not verify "
            "with the configured receipt keys"
        )
        self.decision = decision


class DecisionMismatchError(StepGateError):
    """Decisions arrived for the request id, but none answered the request this client sent."""

    code = "DECISION_MISMATCH"

    def __init__(self, request_id: str, seen: int) -> None:
        super().__init__(
            f"{seen} decision(s) for request {request_id} arrived that did not answer the request this "
            "client sent (its hash, tenant, workflow or step differ)"
        )
        self.request_id = request_id
        self.seen = seen


class UnencodableValueError(StepGateError, ValueError):
    """A string of the message holds a lone UTF-16 surrogate (``\\ud800``-``\\udfff``, e.g. from
    ``surrogateescape``), which has no UTF-8 form; ``path`` names it (``tool_context.tool_input.q``).
    Nothing was sent: the evaluator would refuse it as ``INVALID_REQUEST`` too."""

    code = "INVALID_REQUEST"

    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path}: contains a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape),"
            " which stepgate does not accept"
        )
        self.path = path


class RefusedLocallyError(StepGateError, ValueError):
    """A gate request (``gate()``) or step completion (``complete()``) the client did not send: the evaluator
    could not have answered it where this client waits (its refusal would go to the dead-letter topic or
    name no workflow or step), so the caller would only have seen ``GateTimeoutError``, or would refuse
    for its size anyway (a completion, which nothing answers, would be lost unseen). ``code`` is
    ``INVALID_REQUEST``, the evaluator's code for what it answers; ``path`` names the field (``request_id``,
    ``workflow_id``, ``step_id``; ``(root)``: the whole value), ``expected`` and ``actual`` say what was wrong."""

    code = "INVALID_REQUEST"

    def __init__(self, path: str, expected: str, actual: str) -> None:
        super().__init__(f"not sent: {path}: expected {expected}; got {actual}")
        self.path = path
        self.expected = expected
        self.actual = actual


class GateRefusedError(StepGateError):
    """The services refused the request (a decision with ``error``); ``code`` is the wire error code."""

    def __init__(self, decision: Decision) -> None:
        assert decision.error is not None
        super().__init__(f"gate request {decision.request_id} refused: {decision.error.code}: {decision.error.message}")
        self.code = decision.error.code
        self.decision = decision


class StepBlockedError(StepGateError):
    """A helper (LangGraph, Airflow) was told ``block``: the step must not run."""

    code = "STEP_BLOCKED"

    def __init__(self, decision: Decision) -> None:
        super().__init__(f"step {decision.step_id} of workflow {decision.workflow_id} blocked: {decision.reason}")
        self.decision = decision


class ApprovalNotResolvedError(StepGateError):
    """A helper resumed a step whose approval is still pending and was given no verified outcome."""

    code = "APPROVAL_NOT_RESOLVED"


class ClientClosedError(StepGateError):
    """The client was closed (or never connected) while a gate waited."""

    code = "CLIENT_CLOSED"
