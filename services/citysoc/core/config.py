"""Settings, resolved once at start into frozen, validated objects.

Sources, later wins: built-in defaults, the YAML file (``--config`` or ``CITYSOC_CONFIG``), then the
few ``CITYSOC_*`` environment variables listed in ``ENV_OVERRIDES`` (for containers and tests).
Tokens are never stored in clear: the file holds ``sha256:<hex>`` digests (``citysoc init`` writes them).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

BusKind = Literal["memory", "kafka"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def hash_token(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def _check_digest(v: str) -> str:
    if not v.startswith("sha256:") or len(v) != 71:
        raise ValueError("token digests must look like 'sha256:<64 hex>' (see `citysoc init`)")
    int(v[7:], 16)
    return v


class StoreSettings(_Frozen):
    dsn: str = "chdb://./data/clickhouse"
    """``chdb:///path`` (embedded, this process owns the directory) or ``http://host:8123``."""
    database: str = "citysoc"
    username: str = "default"
    password: str = ""
    retention_days: dict[int, int] = Field(
        default_factory=lambda: {0: 365, 1: 180, 2: 365, 3: 1095, 4: 1825, 5: 3650}
    )
    """Days events are kept, per security level of their system (0: unknown). The defaults are an
    assumption, not from a regulation: set them per the city's policy. Enforced by a ClickHouse TTL."""

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, v: dict[int, int]) -> dict[int, int]:
        defaults = {0: 365, 1: 180, 2: 365, 3: 1095, 4: 1825, 5: 3650}
        if set(v) - set(defaults):
            raise ValueError("retention_days keys are security levels 0-5")
        if any(days < 1 for days in v.values()):
            raise ValueError("retention_days values must be at least 1 day")
        return {**defaults, **v}


class BusSettings(_Frozen):
    kind: BusKind = "memory"
    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = "citysoc."
    partitions: int = Field(default=4, ge=1, le=1024)
    max_pending: int = Field(default=20_000, ge=1)
    """In-process bus: records produced but not yet committed before producers wait."""
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 1_000

    def topic(self, name: Literal["events.raw", "events.dead", "alerts", "correlation"]) -> str:
        return self.topic_prefix + name


class CollectorSettings(_Frozen):
    instance: str = Field(default_factory=lambda: os.uname().nodename)
    """Collector instance name: part of event ids for sources without a natural id. Keep it stable."""
    host: str = "0.0.0.0"
    http_port: int = 8001
    syslog_udp_port: int | None = 5514
    syslog_tcp_port: int | None = 5514
    syslog_tls_port: int | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    """When set, TLS clients must present a certificate signed by this CA, and the certificate's
    name (subject CN or a DNS SAN) must be one of an agency's ``tls_client_names``: that agency owns
    everything sent over the connection, as with an HTTP token."""
    max_message_bytes: int = Field(default=65_536, ge=256)
    max_request_bytes: int = Field(default=10_485_760, ge=1024)
    batch_max: int = Field(default=500, ge=1)
    batch_linger_ms: int = Field(default=50, ge=0)
    queue_max: int = Field(default=10_000, ge=1)
    default_timezone: str = "Asia/Ho_Chi_Minh"
    """Zone for timestamps that carry none (RFC 3164)."""


class WorkerSettings(_Frozen):
    group: str = "citysoc-worker"
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 8002
    batch_max: int = Field(default=1000, ge=1)
    poll_timeout_ms: int = Field(default=200, ge=1)
    retry_max_backoff_s: float = Field(default=10.0, gt=0)
    flush_rows: int = Field(default=20_000, ge=1)
    """The batching writer flushes (and offsets are committed) once this many rows are buffered..."""
    flush_interval_ms: int = Field(default=500, ge=1)
    """... or once the oldest buffered row is this old."""


class ApiSettings(_Frozen):
    host: str = "0.0.0.0"
    port: int = 8000


class DetectionSettings(_Frozen):
    rules: tuple[Path, ...] = (Path("detections"),)
    reload_interval_s: float = Field(default=2.0, gt=0)
    """How often the worker checks the rule files for changes (SIGHUP reloads at once)."""


class EvidenceSettings(_Frozen):
    signing_key: Path = Path("data/evidence/signing.key")
    """The center's Ed25519 private key (PEM) that signs evidence manifests (`citysoc evidence keygen`)."""
    public_key: Path = Path("data/evidence/signing.pub")
    """The trusted public key that `citysoc evidence verify` checks signatures against."""


class SourceSettings(_Frozen):
    """One entry of the sources registry: how the collector attributes what it receives."""

    agency: str
    system: str
    security_level: int = Field(default=0, ge=0, le=5)
    """The system's approved security level 1-5 (0: not yet classified)."""
    cidrs: tuple[str, ...] = ()
    hostnames: tuple[str, ...] = ()

    @field_validator("cidrs")
    @classmethod
    def _cidrs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for c in v:
            ipaddress.ip_network(c, strict=False)
        return v


class AgencySettings(_Frozen):
    code: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    name: str = ""
    ingest_tokens: tuple[str, ...] = ()
    default_system: str = "unknown"
    """System for events this agency posts over HTTP when no source entry names one."""
    tls_client_names: tuple[str, ...] = ()
    """Certificate names (CN or DNS SAN) of this agency's syslog TLS clients."""

    @field_validator("ingest_tokens")
    @classmethod
    def _tokens(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_digest(t) for t in v)


class AuthSettings(_Frozen):
    admin_tokens: tuple[str, ...] = ()

    @field_validator("admin_tokens")
    @classmethod
    def _tokens(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_digest(t) for t in v)


class DatabaseSettings(_Frozen):
    """The relational database of what people change (registry, users, alert groups, audit)."""

    url: str | None = None
    """SQLAlchemy async URL; default ``sqlite+aiosqlite:///<data_dir>/citysoc.db`` (embedded).
    Production: ``postgresql+asyncpg://user:pass@host/db``."""
    echo: bool = False
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    """Lifetime of a login session token."""
    api_token_max_days: int = Field(default=365, ge=1)
    """Longest lifetime an API token may be given."""

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("database.url must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return v


class TriageSettings(_Frozen):
    group_key_fields: tuple[str, ...] = ("host",)
    """Besides rule, agency and system, the alert fields whose values make an alert group's
    fingerprint: ``host``, ``kind``, or a key of the alert's ``matched_fields``."""


class ReportingSettings(_Frozen):
    """Statutory incident reporting (Circular 20/2017/TT-BTTTT; see ../shared/REGULATION.md). Laws
    change: every deadline and recipient here is configuration."""

    initial_report_days: float = Field(default=5.0, gt=0, le=365)
    """The initial report (form 03) is due this long after detection; immediately when the
    incident is beyond the operator's capability."""
    recipients: tuple[str, ...] = (
        "owner agency (chủ quản)",
        "response unit of the system's level",
        "national coordinator (Ministry of Public Security, A05)",
    )
    email_subject_prefix: str = Field(default="[TBSC]", max_length=50)
    reporter_organisation: str = "City SOC"
    reporter_address: str = ""
    reporter_phone: str = ""
    reporter_email: str = ""
    code_prefix: str = Field(default="INC", pattern=r"^[A-Z][A-Z0-9]{0,9}$")
    """Incident codes are ``<prefix>-<year>-<nnnn>``."""


class Settings(_Frozen):
    data_dir: Path = Path("data")
    log_level: str = "INFO"
    store: StoreSettings = StoreSettings()
    bus: BusSettings = BusSettings()
    collector: CollectorSettings = CollectorSettings()
    worker: WorkerSettings = WorkerSettings()
    api: ApiSettings = ApiSettings()
    detection: DetectionSettings = DetectionSettings()
    auth: AuthSettings = AuthSettings()
    evidence: EvidenceSettings = EvidenceSettings()
    database: DatabaseSettings = DatabaseSettings()
    triage: TriageSettings = TriageSettings()
    reporting: ReportingSettings = ReportingSettings()
    agencies: tuple[AgencySettings, ...] = ()
    sources: tuple[SourceSettings, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        codes = [a.code for a in self.agencies]
        if len(codes) != len(set(codes)):
            raise ValueError("agency codes must be unique")
        for s in self.sources:
            if s.agency not in codes:
                raise ValueError(f"source for system {s.system!r} names unknown agency {s.agency!r}")
        seen: dict[str, str] = {}
        for a in self.agencies:
            for t in a.ingest_tokens:
                if t in seen:
                    raise ValueError(f"ingest token shared by agencies {seen[t]!r} and {a.code!r}")
                seen[t] = a.code
        return self

    def agency_for_token(self, token: str) -> AgencySettings | None:
        digest = hash_token(token)
        for a in self.agencies:
            if any(hmac.compare_digest(digest, t) for t in a.ingest_tokens):
                return a
        return None

    def agency_for_cert_names(self, names: Sequence[str]) -> AgencySettings | None:
        wanted = {n.lower() for n in names}
        for a in self.agencies:
            if wanted & {n.lower() for n in a.tls_client_names}:
                return a
        return None

    @property
    def database_url(self) -> str:
        """``database.url``, or the embedded default: a SQLite file in the data directory."""
        return self.database.url or f"sqlite+aiosqlite:///{self.data_dir / 'citysoc.db'}"

    def is_admin_token(self, token: str) -> bool:
        digest = hash_token(token)
        return any(hmac.compare_digest(digest, t) for t in self.auth.admin_tokens)


ENV_OVERRIDES: Mapping[str, tuple[str, ...]] = {
    "CITYSOC_DATA_DIR": ("data_dir",),
    "CITYSOC_STORE_DSN": ("store", "dsn"),
    "CITYSOC_BUS": ("bus", "kind"),
    "CITYSOC_KAFKA_BOOTSTRAP": ("bus", "bootstrap_servers"),
    "CITYSOC_TOPIC_PREFIX": ("bus", "topic_prefix"),
    "CITYSOC_COLLECTOR_INSTANCE": ("collector", "instance"),
    "CITYSOC_LOG_LEVEL": ("log_level",),
    "CITYSOC_DATABASE_URL": ("database", "url"),
}


def _merge(base: dict[str, Any], path: tuple[str, ...], value: str) -> None:
    node = base
    for p in path[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ValueError(f"config section {p!r} must be a mapping")
    node[path[-1]] = value


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Resolve settings from ``path`` (or ``$CITYSOC_CONFIG``) and the environment.

    Raises ``ValueError`` (pydantic ``ValidationError``) with every problem when the file is invalid,
    and ``FileNotFoundError`` when an explicitly named file is missing.
    """
    env = os.environ if env is None else env
    if path is None and env.get("CITYSOC_CONFIG"):
        path = Path(env["CITYSOC_CONFIG"])
    data: dict[str, Any] = {}
    if path is not None:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: the config file must be a YAML mapping")
        data = loaded
    for var, dotted in ENV_OVERRIDES.items():
        if env.get(var):
            _merge(data, dotted, env[var])
    return Settings.model_validate(data)
