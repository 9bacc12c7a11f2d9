"""Kafka transport security (TLS, SASL) by name, checked as packages/runtime/src/transport.ts checks it, and
mapped onto librdkafka's settings. ``KafkaSecurity.from_env`` reads the variables the services read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import SettingsError

SaslMechanism = Literal["plain", "scram-sha-256", "scram-sha-512"]
SASL_MECHANISMS: tuple[SaslMechanism, ...] = ("plain", "scram-sha-256", "scram-sha-512")

# The environment variable of each field, for errors raised while reading the environment.
ENV_VARIABLES = {
    "ssl": "KAFKA_SSL",
    "ssl_ca_pem": "KAFKA_SSL_CA_FILE",
    "ssl_cert_pem": "KAFKA_SSL_CERT_FILE",
    "ssl_key_pem": "KAFKA_SSL_KEY_FILE",
    "ssl_server_name": "KAFKA_SSL_SERVER_NAME",
    "sasl_mechanism": "KAFKA_SASL_MECHANISM",
    "sasl_username": "KAFKA_SASL_USERNAME",
    "sasl_password": "KAFKA_SASL_PASSWORD",
}


@dataclass(frozen=True)
class KafkaSecurity:
    """TLS and SASL to the brokers (the orchestrator's own Kafka principal in a secure installation)."""

    ssl: bool | None = None
    """TLS to the brokers; on by itself when a CA or a client certificate is given (``False`` with them is refused)."""
    ssl_ca_pem: str | None = None
    """PEM CA bundle that signed the brokers' certificates (default: the system's)."""
    ssl_cert_pem: str | None = None
    """PEM client certificate (mutual TLS); set together with ``ssl_key_pem``."""
    ssl_key_pem: str | None = field(default=None, repr=False)
    ssl_server_name: str | None = None
    """Refused: librdkafka checks each broker's certificate against the host that broker advertises and
    has no setting to expect another name (the TypeScript services' KAFKA_SSL_SERVER_NAME)."""
    sasl_mechanism: SaslMechanism | None = None
    """``plain``, ``scram-sha-256`` or ``scram-sha-512``; set with ``sasl_username`` and ``sasl_password``
    (all three or none)."""
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        problem = _problem(vars(self))
        if problem:
            raise SettingsError(*problem)

    @property
    def tls(self) -> bool:
        return bool(self.ssl or self.ssl_ca_pem or self.ssl_cert_pem)

    def librdkafka_config(self) -> dict[str, str]:
        """These settings as librdkafka configuration (``security.protocol``, ``ssl.*``, ``sasl.*``)."""
        sasl = self.sasl_mechanism is not None
        config: dict[str, str] = {}
        if self.tls:  # SASL without TLS is refused on construction
            config["security.protocol"] = "SASL_SSL" if sasl else "SSL"
        if self.ssl_ca_pem:
            config["ssl.ca.pem"] = self.ssl_ca_pem
        if self.ssl_cert_pem and self.ssl_key_pem:
            config["ssl.certificate.pem"] = self.ssl_cert_pem
            config["ssl.key.pem"] = self.ssl_key_pem
        if self.sasl_mechanism and self.sasl_username is not None and self.sasl_password is not None:
            config["sasl.mechanism"] = self.sasl_mechanism.upper()
            config["sasl.username"] = self.sasl_username
            config["sasl.password"] = self.sasl_password
        return config

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KafkaSecurity:
        """From KAFKA_SSL, KAFKA_SSL_CA_FILE, KAFKA_SSL_CERT_FILE, KAFKA_SSL_KEY_FILE, KAFKA_SSL_SERVER_NAME,
        KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE;
        an unusable or half-given setting raises ``SettingsError`` naming its variable."""

        def text(variable: str) -> str | None:
            value = env.get(variable)
            if value is None:
                return None
            if not value.strip():
                raise SettingsError(variable, "a non-empty value")
            return value.strip()

        def file(variable: str) -> str | None:
            path = text(variable)
            if path is None:
                return None
            try:
                return Path(path).read_text()
            except OSError as err:
                raise SettingsError(variable, f"a readable file ({path}: {err.strerror or 'unreadable'})") from None

        flag = text("KAFKA_SSL")
        if flag not in (None, "true", "false"):
            raise SettingsError("KAFKA_SSL", "true or false")
        mechanism = text("KAFKA_SASL_MECHANISM")
        if mechanism is not None and mechanism not in SASL_MECHANISMS:
            raise SettingsError("KAFKA_SASL_MECHANISM", "plain, scram-sha-256 or scram-sha-512")
        password = text("KAFKA_SASL_PASSWORD")
        if password is None:
            from_file = file("KAFKA_SASL_PASSWORD_FILE")
            password = from_file.strip() if from_file is not None else None
        values: dict[str, Any] = {
            "ssl": None if flag is None else flag == "true",
            "ssl_ca_pem": file("KAFKA_SSL_CA_FILE"),
            "ssl_cert_pem": file("KAFKA_SSL_CERT_FILE"),
            "ssl_key_pem": file("KAFKA_SSL_KEY_FILE"),
            "ssl_server_name": text("KAFKA_SSL_SERVER_NAME"),
            "sasl_mechanism": mechanism,
            "sasl_username": text("KAFKA_SASL_USERNAME"),
            "sasl_password": password,
        }
        # Checked before construction so that the error names the environment variable, not the field.
        problem = _problem(values, ENV_VARIABLES)
        if problem:
            raise SettingsError(*problem)
        return cls(**values)


def _problem(s: Mapping[str, Any], name: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """The first unusable setting, as (its name, what was expected): field names unless ``name`` maps them."""

    def n(f: str) -> str:
        return name[f] if name else f

    if (s["ssl_cert_pem"] is None) != (s["ssl_key_pem"] is None):
        return n("ssl_key_pem"), f"set together with {n('ssl_cert_pem')} (both or neither)"
    if s["ssl"] is False and (s["ssl_ca_pem"] or s["ssl_cert_pem"]):
        return n("ssl"), f"true (or unset) when {n('ssl_ca_pem')} or {n('ssl_cert_pem')} is given"
    if s["ssl_server_name"] is not None:
        return n("ssl_server_name"), (
            "unset: librdkafka checks a broker's certificate against the host the broker advertises "
            "and cannot expect another name (advertise the name the certificate carries)"
        )
    sasl = (s["sasl_mechanism"], s["sasl_username"], s["sasl_password"])
    if any(v is not None for v in sasl) and not all(v is not None for v in sasl):
        return n("sasl_mechanism"), (
            f"set together with {n('sasl_username')} and {n('sasl_password')}"
            f"{' (or KAFKA_SASL_PASSWORD_FILE)' if name else ''}: all three or none"
        )
    if s["sasl_mechanism"] is not None and s["sasl_mechanism"] not in SASL_MECHANISMS:
        return n("sasl_mechanism"), "plain, scram-sha-256 or scram-sha-512"
    # SCRAM protects the password but not the session, and PLAIN sends it as is: SASL only inside TLS.
    if s["sasl_mechanism"] is not None and not (s["ssl"] or s["ssl_ca_pem"] or s["ssl_cert_pem"]):
        return n("sasl_mechanism"), (
            f"only with TLS ({n('ssl')}=true or {n('ssl_ca_pem')}): "
            "SASL over plaintext exposes the credentials and the session"
        )
    return None
