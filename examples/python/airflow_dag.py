"""An Airflow DAG whose deploy task runs only when stepgate allows it; on `require_approval` the gate
task defers to the triggerer until a human decides.

Put this file in your DAGs folder, with the worker's and triggerer's environment pointing at stepgate:
STEPGATE_KEY_FILE (~/.local/state/stepgate/dev/release-orchestrator.json under `npm run dev`),
KAFKA_BROKERS, STEPGATE_RECEIPT_KEYS_URL (http://127.0.0.1:9464/receipt-keys); the defaults below
fit `npm run dev`. Or run it once without a scheduler (Airflow 3.1, pip install "clients/python[airflow]"):

    export AIRFLOW_HOME=/tmp/airflow AIRFLOW__CORE__DAGS_FOLDER=$PWD/examples/python AIRFLOW__CORE__LOAD_EXAMPLES=False
    airflow db migrate && airflow dags reserialize && airflow dags test governed_release

and approve the approval id the gate task logs (`npm run stepgate -- approvals approve <id> --key …/alice.json
--comment "…"`): the trigger picks the outcome up and the deploy task runs.
"""

from __future__ import annotations

import os
from datetime import datetime

from dev_settings import STATE_DIR

from stepgate.airflow import StepGateOperator

try:  # Airflow 3
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.operators.python import PythonOperator  # type: ignore[no-redef]

os.environ.setdefault("STEPGATE_KEY_FILE", str(STATE_DIR / "release-orchestrator.json"))
os.environ.setdefault("STEPGATE_RECEIPT_KEYS_URL", "http://127.0.0.1:9464/receipt-keys")

with DAG("governed_release", start_date=datetime(2026, 1, 1), schedule=None, catchup=False) as dag:
    gate = StepGateOperator(
        task_id="gate_deploy",
        step={
            "workflow_id": "airflow-{{ run_id }}",
            "step_id": "deploy",
            "step_type": "connector_call",
            "step_name": "deploy-to-production",
        },
    )
    deploy = PythonOperator(task_id="deploy", python_callable=lambda: print("deployed to production"))
    gate >> deploy
