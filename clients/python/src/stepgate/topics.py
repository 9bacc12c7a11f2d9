"""Topic names, as packages/contracts/src/topics.ts names them (the shared vectors hold the two together)."""

from __future__ import annotations

import re

from .errors import StepGateError

DEFAULT_TOPIC_PREFIX = "stepgate."
TENANT_DECISIONS_INFIX = "gate.decisions."
# fullmatch, not `$`: Python's `$` also matches before a trailing newline.
_TOPIC_SAFE_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class InvalidTenantIdError(StepGateError, ValueError):
    """The tenant id cannot name its own decisions topic (letters, digits, ``_``, ``-``; at most 64)."""

    code = "INVALID_TENANT_ID"


def has_tenant_decision_topic(tenant_id: str) -> bool:
    return _TOPIC_SAFE_TENANT.fullmatch(tenant_id) is not None


def tenant_decision_topic(tenant_id: str, prefix: str = DEFAULT_TOPIC_PREFIX) -> str:
    """``<prefix>gate.decisions.<tenant_id>``: the tenant's own decisions (STEPGATE_TENANT_DECISION_TOPICS)."""
    if not has_tenant_decision_topic(tenant_id):
        raise InvalidTenantIdError(f"not a tenant id usable in a topic name: {tenant_id[:80]!r}")
    return f"{prefix}{TENANT_DECISIONS_INFIX}{tenant_id}"


def client_group_prefix(tenant_id: str | None = None) -> str:
    """A client's consumer-group prefix, which the secure installation's orchestrator ACLs grant:
    ``stepgate-client-<tenant_id>.`` when it reads its tenant's own decisions topic (the ``.`` ends the
    tenant id: ``acme``'s prefix does not cover ``acme-x``'s groups), else ``stepgate-client-``."""
    if tenant_id is None:
        return "stepgate-client-"
    if not has_tenant_decision_topic(tenant_id):
        raise InvalidTenantIdError(f"not a tenant id usable in a group name: {tenant_id[:80]!r}")
    return f"stepgate-client-{tenant_id}."
