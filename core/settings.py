"""Settings in force: embedded defaults, then an optional TOML file, then ``SEALGATE_*`` environment variables.

The TOML file is named by ``SEALGATE_CONFIG`` (or ``sealgate --config``); nested sections map to nested
environment names with a double underscore, e.g. ``[keystore] pin_file`` is ``SEALGATE_KEYSTORE__PIN_FILE``.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography.x509 import ObjectIdentifier
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url

from core.errors import ConfigError

ENV_PREFIX = "SEALGATE_"
CONFIG_ENV = "SEALGATE_CONFIG"

_config_file: ContextVar[Path | None] = ContextVar("sealgate_config_file", default=None)


def env_name(*path: str) -> str:
    """The environment variable that sets the field at ``path``."""
    return ENV_PREFIX + "__".join(p.upper() for p in path)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(_Section):
    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; unset means SQLite (WAL) at var/core.db. postgresql:// uses psycopg 3.",
    )
    pool_size: int = Field(default=10, ge=1, le=200)
    connect_timeout_seconds: float = Field(default=5.0, gt=0)


class KeystoreSettings(_Section):
    module: Path | None = Field(
        default=None,
        description="PKCS#11 module. Unset: a development SoftHSM2 token under var/softhsm, created on first start.",
    )
    token_label: str = Field(default="sealgate", min_length=1, max_length=32)
    pin: SecretStr | None = None
    pin_file: Path | None = None
    pool_size: int = Field(default=4, ge=1, le=64)


class BlobSettings(_Section):
    backend: Literal["files", "database"] = Field(
        default="files",
        description="Where blobs are kept: files under `path`, or the database (PostgreSQL; `path` is then a cache).",
    )
    path: Path | None = Field(default=None, description="Directory of the file blob store; unset: var/blobs.")
    pool_size: int = Field(default=4, ge=1, le=64, description="connections of the database blob store")


class AuthSettings(_Section):
    token_lifetime_seconds: int = Field(default=8 * 3600, ge=60)
    failure_window_seconds: int = Field(default=15 * 60, ge=1, description="how long a failed sign-in is counted")
    max_failures_per_account: int = Field(
        default=5, ge=1, description="failures at an account from one address before its attempts from there wait"
    )
    max_failures_per_address: int = Field(
        default=30, ge=1, description="failures from one address before its attempts wait"
    )
    max_failures_per_account_everywhere: int = Field(
        default=50, ge=1, description="failures at an account from all addresses before every attempt at it waits"
    )
    failure_delay_seconds: float = Field(default=1.0, gt=0, description="first wait, doubled by every further failure")
    failure_delay_cap_seconds: float = Field(default=60.0, gt=0, le=3600, description="longest wait")


class WitnessPeerSettings(_Section):
    url: str = Field(description="Submission prefix of the witness (add-checkpoint is POSTed under it).")
    vkey: str = Field(description="The witness's cosignature verifier key (C2SP vkey, type 0x04).")


class LedgerSettings(_Section):
    origin: str | None = Field(
        default=None,
        description="Checkpoint origin and name of the log key; unset: host of public_url + '/log'. Never change it.",
    )
    integrate: bool = Field(default=True, description="Run the integrator inside `sealgate serve`.")
    batch_size: int = Field(default=5000, ge=1, le=100_000)
    idle_seconds: float = Field(default=0.2, gt=0, le=60)
    witnesses: list[WitnessPeerSettings] = Field(default_factory=list)
    witness_quorum: int = Field(default=0, ge=0)


class WorkflowSettings(_Section):
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, description="largest PDF accepted")
    delivery_attempts: int = Field(default=8, ge=1, le=50, description="attempts before a delivery is dead")
    delivery_backoff_seconds: float = Field(default=30.0, gt=0, description="first retry delay, doubled each time")
    delivery_backoff_cap_seconds: float = Field(default=6 * 3600.0, gt=0)
    reminder_hours: float = Field(default=12.0, gt=0, description="how often an overdue approver is reminded")
    notification_webhook: str | None = Field(default=None, description="URL that receives every notification")
    notification_webhook_secret: SecretStr | None = Field(default=None, description="HMAC key signing the webhook")
    workers: bool = Field(default=True, description="Run execution, delivery and time limits inside `serve`.")
    executor_threads: int = Field(
        default=4, ge=1, le=32, description="threads of each `serve` executing approved requests (one on SQLite)"
    )
    execute_together: int = Field(
        default=8,
        ge=1,
        le=100,
        description="approved requests an executor thread carries out in one transaction when that many wait",
    )


OID_PATTERN = r"^[0-2](\.(0|[1-9][0-9]*))+$"  # a dotted object identifier


class CaSettings(_Section):
    name: str = Field(default="sealgate", min_length=1, max_length=64, description="O= of the CA certificates")
    key_kind: Literal["ec-p256", "ec-p384"] = Field(default="ec-p256", description="kind of every CA-made key")
    root_validity_days: int = Field(default=20 * 365, ge=1)
    issuing_validity_days: int = Field(default=10 * 365, ge=1)
    service_validity_days: int = Field(default=3 * 365, ge=1, description="OCSP, TSA and authorisation signer")
    seal_validity_days: int = Field(default=2 * 365, ge=1)
    device_validity_days: int = Field(default=3 * 365, ge=1)
    crl_validity_hours: float = Field(default=24.0, gt=0, description="nextUpdate of a CRL after its thisUpdate")
    arl_validity_days: int = Field(
        default=365, ge=1, description="nextUpdate of the root's CA revocation list (ARL) after its thisUpdate"
    )
    ocsp_validity_minutes: float = Field(default=60.0, gt=0, description="nextUpdate of an OCSP response")
    ocsp_status_seconds: float = Field(
        default=1.0, gt=0, le=3600, description="how long the OCSP responder trusts its last look at revocations"
    )
    expiry_warning_days: int = Field(default=30, ge=1)
    tsa_policy: str = Field(
        default="2.25.302582744316785441046371618380283349443",
        pattern=OID_PATTERN,
        description="TSA policy OID (a UUID OID, 2.25, unless the operator has an arc of its own)",
    )
    policy_oid: str = Field(
        default="2.25.40066904325239605390604450284705429461",
        pattern=OID_PATTERN,
        description="certificatePolicies OID of every certificate the CA issues; give each deployment its own",
    )
    base_url: str | None = Field(
        default=None, description="Base of the CRL, OCSP and CA-issuer URLs in certificates; unset: public_url."
    )

    @field_validator("tsa_policy", "policy_oid")
    @classmethod
    def _encodable_oid(cls, value: str) -> str:
        """The pattern lets through what no certificate can carry (``1.40``, an arc past 128 bits)."""
        try:
            ObjectIdentifier(value)
        except ValueError:
            raise ValueError(
                f"{value} is not a valid object identifier (under 0 and 1 the second arc is at most 39, "
                "and no arc may pass 128 bits)"
            ) from None
        return value


class SignerSettings(_Section):
    level: Literal["B-B", "B-T", "B-LT", "B-LTA"] = Field(
        default="B-LTA", description="PAdES level of seals: B-LT and B-LTA verify offline for years"
    )
    anchor: str = Field(default="（盖章）", min_length=1, description="text the seal is stamped over when found")
    qr_code: bool = Field(default=True, description="a QR code beside the seal opening the document's record")
    max_verify_bytes: int = Field(default=50 * 1024 * 1024, ge=1024, description="largest PDF verified")
    fetch_revocation: bool = Field(
        default=False,
        description="verification also fetches OCSP or CRLs over the network from certificates' own pointers "
        "(the service's own CRL and ARL are always used)",
    )
    verify_memory_bytes: int = Field(
        default=1024 * 1024 * 1024,
        ge=256 * 1024 * 1024,
        description="address space of each verification's child (a sealed 46 MB file peaks at 380 MB)",
    )
    max_concurrent_verifications: int = Field(
        default=2, ge=1, le=64, description="verifications run at once (each a child process); the others wait"
    )
    verification_wait_seconds: float = Field(
        default=2.0, ge=0, le=60, description="how long a verification waits for its turn before a 503"
    )


class MachineSettings(_Section):
    authorisation_hours: float = Field(
        default=72.0, gt=0, le=24 * 366, description="how long an authorisation for a seal machine stays valid"
    )
    enrolment_code_hours: float = Field(default=72.0, gt=0, description="how long a machine's enrolment code works")
    silent_after_minutes: float = Field(
        default=60.0, gt=0, description="an active machine whose terminal has not called for this long is alarmed"
    )
    photo_within_minutes: float = Field(
        default=30.0, gt=0, description="a stamp whose photo has not arrived after this long is alarmed"
    )
    max_photo_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, description="largest photo of a stamped sheet")
    max_events_per_upload: int = Field(default=256, ge=1, le=10_000, description="events in one upload")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    var_dir: Path = Field(default=Path("var"), description="Where embedded state lives (database, blobs, token).")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str = Field(default="http://127.0.0.1:8000", description="Base URL printed into links and QR codes.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="largest request body of an endpoint that takes no document (verification and uploads have theirs)",
    )
    forwarded_allow_ips: list[str] = Field(
        default_factory=list,
        description="addresses of the reverse proxies whose X-Forwarded-For is believed; empty: the peer is the client",
    )
    metrics_allow_ips: list[str] = Field(
        default=["127.0.0.1", "::1"], description="addresses that read /metrics without a token"
    )
    metrics_token: SecretStr | None = Field(default=None, description="bearer token that reads /metrics from anywhere")
    database: DatabaseSettings = DatabaseSettings()
    keystore: KeystoreSettings = KeystoreSettings()
    blobs: BlobSettings = BlobSettings()
    auth: AuthSettings = AuthSettings()
    ledger: LedgerSettings = LedgerSettings()
    workflow: WorkflowSettings = WorkflowSettings()
    ca: CaSettings = CaSettings()
    signer: SignerSettings = SignerSettings()
    machines: MachineSettings = MachineSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file_in_force()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def database_url(self) -> str:
        if self.database.url:
            return normalise_database_url(self.database.url)
        return f"sqlite:///{self.var_dir / 'sealgate.db'}"

    @property
    def blob_dir(self) -> Path:
        return self.blobs.path or self.var_dir / "blobs"

    @property
    def softhsm_dir(self) -> Path:
        return self.var_dir / "softhsm"

    @property
    def log_origin(self) -> str:
        if self.ledger.origin:
            return self.ledger.origin
        return urlsplit(self.public_url).netloc + "/log"


def normalise_database_url(url: str) -> str:
    """Point bare ``postgresql://`` URLs at psycopg 3, the driver the project installs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def masked_database_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def config_file_in_force() -> Path | None:
    explicit = _config_file.get()
    if explicit is not None:
        return explicit
    from_env = os.environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read the settings in force; a bad value raises ConfigError naming the variable."""
    from pydantic import ValidationError

    token = _config_file.set(config_file) if config_file is not None else None
    try:
        path = config_file_in_force()
        if path is not None and not path.is_file():
            raise ConfigError(CONFIG_ENV, f"no configuration file at {path}")
        try:
            return Settings(**overrides)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = tuple(str(p) for p in first["loc"])
            raise ConfigError(env_name(*loc), first["msg"]) from None
    finally:
        if token is not None:
            _config_file.reset(token)


def shown_settings(settings: Settings) -> dict[str, Any]:
    """The settings as plain data with every secret masked, for ``sealgate config show``."""
    data = settings.model_dump(mode="json")
    data["database"]["url"] = masked_database_url(settings.database_url)
    data["blobs"]["path"] = str(settings.blob_dir)
    return _drop_none(data)


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out[key] = _drop_none(value)
        elif value is not None:
            out[key] = value
    return out
