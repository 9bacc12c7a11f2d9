"""Client settings for the services `npm run dev` runs: its state dir holds the demo tenant's keys."""

from __future__ import annotations

import os
from pathlib import Path

from stepgate import GateClientSettings

STATE_DIR = Path(os.environ.get("STEPGATE_DEV_DIR", Path.home() / ".local" / "state" / "stepgate" / "dev"))


def dev_settings() -> GateClientSettings:
    return GateClientSettings.from_key_file(
        STATE_DIR / "release-orchestrator.json",
        brokers=os.environ.get("KAFKA_BROKERS", "127.0.0.1:9092"),
        # The evaluator publishes its receipt keys on its metrics port; fetched once and pinned.
        receipt_keys_url="http://127.0.0.1:9464/receipt-keys",
        timeout_s=30,
    )


def approve_command(approval_id: str) -> str:
    key = STATE_DIR / "alice.json"
    return f'npm run stepgate -- approvals approve {approval_id} --key {key} --comment "Looks good to me"'
