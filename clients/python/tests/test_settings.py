"""Kafka security and per-tenant decisions from settings and the environment: no broker needed. The rules
are packages/runtime/src/transport.ts's; a half-given or unusable setting is refused naming its variable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stepgate import GateClientSettings, KafkaSecurity, SettingsError

CA = "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n"
CERT = "-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nclient\n-----END PRIVATE KEY-----\n"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    paths = {}
    for name, text in {"ca": CA, "cert": CERT, "key": KEY, "password": "s3cret\n"}.items():
        (tmp_path / name).write_text(text)
        paths[name] = str(tmp_path / name)
    (tmp_path / "cred.json").write_text(
        json.dumps({"key_id": "k1", "tenant_id": "acme", "private_key_pem": "unused here"})
    )
    paths["cred"] = str(tmp_path / "cred.json")
    return paths


def refused(env: dict[str, str]) -> SettingsError:
    with pytest.raises(SettingsError) as err:
        KafkaSecurity.from_env(env)
    assert err.value.code == "INVALID_SETTINGS"
    return err.value


def test_nothing_set_is_plaintext() -> None:
    assert KafkaSecurity.from_env({}).librdkafka_config() == {}


def test_sasl_ssl_from_the_services_variables(files: dict[str, str]) -> None:
    security = KafkaSecurity.from_env(
        {
            "KAFKA_SSL_CA_FILE": files["ca"],
            "KAFKA_SSL_CERT_FILE": files["cert"],
            "KAFKA_SSL_KEY_FILE": files["key"],
            "KAFKA_SASL_MECHANISM": "scram-sha-512",
            "KAFKA_SASL_USERNAME": "orchestrator-demo",
            "KAFKA_SASL_PASSWORD_FILE": files["password"],
        }
    )
    assert security.librdkafka_config() == {
        "security.protocol": "SASL_SSL",
        "ssl.ca.pem": CA,
        "ssl.certificate.pem": CERT,
        "ssl.key.pem": KEY,
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "orchestrator-demo",
        "sasl.password": "s3cret",
    }


@pytest.mark.parametrize(
    ("env", "protocol"),
    [
        ({"KAFKA_SSL": "true"}, "SSL"),
        (
            {
                "KAFKA_SSL": "true",
                "KAFKA_SASL_MECHANISM": "plain",
                "KAFKA_SASL_USERNAME": "u",
                "KAFKA_SASL_PASSWORD": "p",
            },
            "SASL_SSL",
        ),
    ],
)
def test_protocol(env: dict[str, str], protocol: str) -> None:
    assert KafkaSecurity.from_env(env).librdkafka_config()["security.protocol"] == protocol


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"KAFKA_SSL_CERT_FILE": "cert"}, "KAFKA_SSL_KEY_FILE"),
        ({"KAFKA_SSL_KEY_FILE": "key"}, "KAFKA_SSL_KEY_FILE"),
        ({"KAFKA_SSL": "false", "KAFKA_SSL_CA_FILE": "ca"}, "KAFKA_SSL"),
        ({"KAFKA_SSL": "yes"}, "KAFKA_SSL"),
        ({"KAFKA_SASL_USERNAME": "u"}, "KAFKA_SASL_MECHANISM"),
        ({"KAFKA_SASL_MECHANISM": "scram-sha-256", "KAFKA_SASL_USERNAME": "u"}, "KAFKA_SASL_MECHANISM"),
        ({"KAFKA_SASL_PASSWORD": "p"}, "KAFKA_SASL_MECHANISM"),
        (
            {"KAFKA_SASL_MECHANISM": "gssapi", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"},
            "KAFKA_SASL_MECHANISM",
        ),
        ({"KAFKA_SASL_PASSWORD_FILE": "/nonexistent/password"}, "KAFKA_SASL_PASSWORD_FILE"),
        ({"KAFKA_SSL_CA_FILE": "/nonexistent/ca.pem"}, "KAFKA_SSL_CA_FILE"),
        ({"KAFKA_SSL_CA_FILE": "  "}, "KAFKA_SSL_CA_FILE"),
        ({"KAFKA_SSL_SERVER_NAME": "kafka.internal"}, "KAFKA_SSL_SERVER_NAME"),
        # SASL without TLS would send the credentials (PLAIN) and the whole session in the clear.
        (
            {"KAFKA_SASL_MECHANISM": "plain", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"},
            "KAFKA_SASL_MECHANISM",
        ),
        (
            {
                "KAFKA_SSL": "false",
                "KAFKA_SASL_MECHANISM": "scram-sha-512",
                "KAFKA_SASL_USERNAME": "u",
                "KAFKA_SASL_PASSWORD": "p",
            },
            "KAFKA_SASL_MECHANISM",
        ),
    ],
)
def test_half_given_or_unusable_is_refused_naming_the_variable(
    files: dict[str, str], env: dict[str, str], variable: str
) -> None:
    # Relative names stand for the fixture's readable files.
    env = {k: files.get(v, v) for k, v in env.items()}
    err = refused(env)
    assert err.variable == variable
    assert str(err).startswith(f"{variable}: expected")


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"ssl_cert_pem": CERT}, "ssl_key_pem"),
        ({"sasl_mechanism": "scram-sha-512", "sasl_password": "p"}, "sasl_mechanism"),
        ({"sasl_mechanism": "gssapi", "sasl_username": "u", "sasl_password": "p"}, "sasl_mechanism"),
        ({"ssl": False, "ssl_ca_pem": CA}, "ssl"),
        ({"sasl_mechanism": "scram-sha-512", "sasl_username": "u", "sasl_password": "p"}, "sasl_mechanism"),
    ],
)
def test_named_settings_are_checked_too(fields: dict[str, Any], name: str) -> None:
    with pytest.raises(SettingsError) as err:
        KafkaSecurity(**fields)
    assert err.value.variable == name


def test_gate_client_settings_from_env(files: dict[str, str]) -> None:
    settings = GateClientSettings.from_env(
        {
            "STEPGATE_KEY_FILE": files["cred"],
            "KAFKA_BROKERS": "broker:9093",
            "STEPGATE_TOPIC_PREFIX": "prod.",
            "STEPGATE_TENANT_DECISION_TOPICS": "true",
            "KAFKA_SSL_CA_FILE": files["ca"],
            "KAFKA_SASL_MECHANISM": "scram-sha-256",
            "KAFKA_SASL_USERNAME": "orchestrator-acme",
            "KAFKA_SASL_PASSWORD": "pw",
            "STEPGATE_KAFKA_CONFIG": '{"socket.keepalive.enable": true, "sasl.username": "wins"}',
        }
    )
    assert settings.decisions_topic() == "prod.gate.decisions.acme"
    config = settings.librdkafka_config()
    assert config["bootstrap.servers"] == "broker:9093"
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanism"] == "SCRAM-SHA-256"
    # The raw passthrough is applied last: anything else librdkafka takes, and it wins.
    assert config["socket.keepalive.enable"] is True
    assert config["sasl.username"] == "wins"


def test_shared_decisions_topic_by_default(files: dict[str, str]) -> None:
    settings = GateClientSettings.from_env({"STEPGATE_KEY_FILE": files["cred"]})
    assert settings.decisions_topic() == "stepgate.gate.decisions"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"STEPGATE_TENANT_DECISION_TOPICS": "1"}, "STEPGATE_TENANT_DECISION_TOPICS"),
        ({"STEPGATE_KAFKA_CONFIG": "[1]"}, "STEPGATE_KAFKA_CONFIG"),
        ({"STEPGATE_KAFKA_CONFIG": "{"}, "STEPGATE_KAFKA_CONFIG"),
        ({"KAFKA_SASL_USERNAME": "u"}, "KAFKA_SASL_MECHANISM"),
    ],
)
def test_gate_client_settings_refusals(files: dict[str, str], env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as err:
        GateClientSettings.from_env({"STEPGATE_KEY_FILE": files["cred"], **env})
    assert err.value.variable == variable


def test_key_file_is_required() -> None:
    with pytest.raises(SettingsError) as err:
        GateClientSettings.from_env({})
    assert err.value.variable == "STEPGATE_KEY_FILE"


@pytest.mark.parametrize("tenant", [None, "acme.other", "acme\n", "-acme", "a" * 65])
def test_per_tenant_topics_need_a_tenant_that_names_a_topic(tenant: str | None) -> None:
    with pytest.raises(SettingsError) as err:
        GateClientSettings(
            brokers="b:9092", key_id="k", private_key_pem="p", tenant_id=tenant, tenant_decision_topics=True
        )
    assert err.value.variable == "tenant_id"


def test_secrets_stay_out_of_repr() -> None:
    security = KafkaSecurity(
        ssl=True, ssl_cert_pem=CERT, ssl_key_pem=KEY, sasl_mechanism="plain", sasl_username="u", sasl_password="hunter2"
    )
    settings = GateClientSettings(
        brokers="b:9092",
        key_id="k",
        private_key_pem=KEY,
        kafka=security,
        kafka_config={"sasl.password": "hunter2"},
    )
    for text in (repr(security), repr(settings), str(settings)):
        assert "hunter2" not in text
        assert "PRIVATE KEY" not in text
    assert "sasl_username='u'" in repr(security)


def test_consumer_group_prefix_is_the_tenants_when_it_reads_its_own_topic() -> None:
    base: dict[str, Any] = {"brokers": "b:9092", "key_id": "k", "private_key_pem": "p"}
    assert GateClientSettings(**base).consumer_group_prefix() == "stepgate-client-"
    assert GateClientSettings(**base, tenant_id="acme").consumer_group_prefix() == "stepgate-client-"
    own = GateClientSettings(**base, tenant_id="acme", tenant_decision_topics=True)
    assert own.consumer_group_prefix() == "stepgate-client-acme."
    other = GateClientSettings(**base, tenant_id="acme-x", tenant_decision_topics=True).consumer_group_prefix()
    assert not f"{other}uuid".startswith(own.consumer_group_prefix())


@pytest.mark.parametrize("key_id", ["", "has space", "-leading-dash", "k" * 129, "sgk_ok\n"])
def test_a_key_id_the_evaluator_would_not_look_up_is_refused(key_id: str) -> None:
    # Every request it signed would be refused unattributed, and each gate would only time out.
    with pytest.raises(SettingsError) as err:
        GateClientSettings(brokers="b:9092", key_id=key_id, private_key_pem="unused")
    assert (err.value.code, err.value.variable) == ("INVALID_SETTINGS", "key_id")
    assert (
        GateClientSettings(brokers="b:9092", key_id="sgk_acme.1:ops@x-2", private_key_pem="unused").key_id
        == "sgk_acme.1:ops@x-2"
    )


@pytest.mark.parametrize("key_id", [None, 42])
def test_a_key_id_that_is_not_text_is_refused_as_a_setting(key_id: Any) -> None:
    with pytest.raises(SettingsError) as err:
        GateClientSettings(brokers="b:9092", key_id=key_id, private_key_pem="unused")
    assert err.value.variable == "key_id"
