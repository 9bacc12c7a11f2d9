"""stepgate: gate AI-agent workflow steps through stepgate's signed Kafka contract from Python."""

from .approvals import (
    ApprovalStatement,
    action_digest,
    approval_id_for,
    approval_statement_bytes,
    sign_approval_statement,
)
from .canonical import canonical_json, json_text_depth
from .client import GateClient, GateClientStats, PublishError, decision_from_resume
from .errors import (
    ApprovalNotResolvedError,
    ClientClosedError,
    DecisionMismatchError,
    GateRefusedError,
    GateTimeoutError,
    KafkaRefusedError,
    ReceiptKeysRequiredError,
    ReceiptKeysUnavailableError,
    ReceiptVerificationError,
    RefusedLocallyError,
    SettingsError,
    StepBlockedError,
    StepGateError,
    UnencodableValueError,
)
from .models import Decision, GateError, GateStep, PolicyRef, Receipt, RetryContext, StepCompletion
from .receipts import ReceiptKeys, fetch_receipt_keys
from .security import KafkaSecurity, SaslMechanism
from .settings import GateClientSettings
from .signing import load_private_key, load_public_key, sign_bytes, verify_bytes, verify_receipt
from .topics import InvalidTenantIdError, has_tenant_decision_topic, tenant_decision_topic

__all__ = [
    "ApprovalNotResolvedError",
    "ApprovalStatement",
    "ClientClosedError",
    "Decision",
    "DecisionMismatchError",
    "GateClient",
    "GateClientSettings",
    "GateClientStats",
    "GateError",
    "GateRefusedError",
    "GateStep",
    "GateTimeoutError",
    "InvalidTenantIdError",
    "KafkaRefusedError",
    "KafkaSecurity",
    "PolicyRef",
    "PublishError",
    "Receipt",
    "ReceiptKeys",
    "ReceiptKeysRequiredError",
    "ReceiptKeysUnavailableError",
    "ReceiptVerificationError",
    "RefusedLocallyError",
    "RetryContext",
    "SaslMechanism",
    "SettingsError",
    "StepBlockedError",
    "StepCompletion",
    "StepGateError",
    "UnencodableValueError",
    "action_digest",
    "approval_id_for",
    "approval_statement_bytes",
    "canonical_json",
    "decision_from_resume",
    "fetch_receipt_keys",
    "has_tenant_decision_topic",
    "json_text_depth",
    "load_private_key",
    "load_public_key",
    "sign_approval_statement",
    "sign_bytes",
    "tenant_decision_topic",
    "verify_bytes",
    "verify_receipt",
]
