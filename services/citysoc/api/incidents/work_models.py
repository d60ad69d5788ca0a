"""Wire models of an incident's tasks, comments, observables and evidence."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from citysoc.api.incidents.models import LongText, Marking, NoNul, Title, UtcDatetime
from citysoc.api.params import IdField
from citysoc.db.enums import ObservableKind, TaskStatus

Short = Annotated[str, Field(min_length=1, max_length=300), NoNul]


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Title
    description: LongText = ""
    agency_id: IdField = Field(description="the agency that must do it (joins the incident if not in it)")
    assignee_id: IdField | None = None
    due_at: UtcDatetime | None = None
    mandatory: bool = False


class TaskPatch(BaseModel):
    """Agency officers may change only ``status`` and ``note`` of their own agency's tasks."""

    model_config = ConfigDict(extra="forbid")
    title: Title | None = None
    description: LongText | None = None
    agency_id: IdField | None = None
    assignee_id: IdField | None = None
    due_at: UtcDatetime | None = None
    mandatory: bool | None = None
    status: TaskStatus | None = None
    note: LongText | None = None


class TaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    incident_id: int
    title: str
    description: str
    agency_id: int
    assignee_id: int | None
    due_at: datetime | None
    status: TaskStatus
    mandatory: bool
    note: str
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TaskPage(BaseModel):
    items: list[TaskOut]
    next_cursor: str | None


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: Annotated[str, Field(min_length=1, max_length=20000), NoNul]


class CommentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    incident_id: int
    author: str
    agency_id: int | None
    body: str
    created_at: datetime


_HEX = {ObservableKind.MD5: 32, ObservableKind.SHA1: 40, ObservableKind.SHA256: 64}
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}$")
_URL = re.compile(r"^[a-z][a-z0-9+.-]{1,15}://\S{1,2000}$", re.IGNORECASE)


def normalise_observable(kind: ObservableKind, value: str) -> str:
    """The canonical form of ``value`` (raises ``ValueError`` when it is not a ``kind``)."""
    v = value.strip()
    if "\x00" in v or len(v.encode()) > 1000:
        # 1000 bytes: the (incident, kind, value) index must fit PostgreSQL's index row limit.
        raise ValueError("value must be at most 1000 bytes of UTF-8 and contain no NUL")
    if kind in (ObservableKind.IPV4, ObservableKind.IPV6):
        net = ipaddress.ip_network(v, strict=False)  # an address or a CIDR
        if (net.version == 4) != (kind == ObservableKind.IPV4):
            raise ValueError(f"{value!r} is not an {kind.value} address")
        return str(net.network_address) if net.num_addresses == 1 else str(net)
    if kind in _HEX:
        v = v.lower()
        if len(v) != _HEX[kind] or not re.fullmatch(r"[0-9a-f]+", v):
            raise ValueError(f"{kind.value} must be {_HEX[kind]} hex digits")
        return v
    if kind == ObservableKind.DOMAIN:
        v = v.lower().rstrip(".")
        if not _DOMAIN.match(v):
            raise ValueError(f"{value!r} is not a domain name")
        return v
    if kind == ObservableKind.EMAIL and not _EMAIL.match(v):
        raise ValueError(f"{value!r} is not an email address")
    if kind == ObservableKind.URL and not _URL.match(v):
        raise ValueError(f"{value!r} is not a URL")
    if not v or any(c in v for c in "\r\n\x00"):
        raise ValueError("value must be one non-empty line")
    return v


class ObservableIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: ObservableKind
    value: Annotated[str, Field(min_length=1, max_length=2000)]
    tlp: Marking = "TLP:AMBER"
    description: LongText = ""
    first_seen: UtcDatetime | None = None
    last_seen: UtcDatetime | None = None

    @model_validator(mode="after")
    def _value(self) -> Self:
        self.value = normalise_observable(self.kind, self.value)
        if self.first_seen and self.last_seen and self.last_seen < self.first_seen:
            raise ValueError("last_seen is before first_seen")
        return self


class ObservableOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    incident_id: int
    kind: ObservableKind
    value: str
    tlp: str
    description: str
    first_seen: datetime | None
    last_seen: datetime | None
    sightings: int
    created_by: str
    created_at: datetime


class CustodyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z_]+$")]
    holder: Short
    note: LongText = ""
    at: UtcDatetime | None = Field(default=None, description="default: now")


class CustodyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    at: datetime
    action: str
    holder: str
    note: str
    recorded_by: str


class EvidenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file_name: Annotated[str, Field(min_length=1, max_length=500), NoNul]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]
    size: Annotated[int | None, Field(ge=0, le=2**62)] = None
    description: LongText = ""
    acquired_by: Short
    acquired_at: UtcDatetime
    export_id: Annotated[str | None, Field(max_length=200), NoNul] = None


class EvidenceOut(BaseModel):
    id: int
    incident_id: int
    file_name: str
    sha256: str
    size: int | None
    description: str
    acquired_by: str
    acquired_at: datetime
    export_id: str | None
    created_by: str
    created_at: datetime
    custody: list[CustodyOut]
