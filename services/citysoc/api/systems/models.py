"""Wire models of ``/api/v1/systems``."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from citysoc.api.params import NO_NUL, IdField
from citysoc.db import System
from citysoc.db.enums import FunctionClass, InformationType

CODE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
SystemSort = Literal[
    "code", "-code", "name", "-name", "security_level", "-security_level", "created_at", "-created_at"
]
_DOMAIN = re.compile(r"^(?=.{1,253}$)(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")


def _address(v: str) -> str:
    try:
        return str(ipaddress.ip_network(v.strip(), strict=False))
    except ValueError as e:
        raise ValueError(f"{v!r} is not an IP address or CIDR") from e


def _domain(v: str) -> str:
    v = v.strip().lower().rstrip(".")
    if not _DOMAIN.match(v):
        raise ValueError(f"{v!r} is not a domain name")
    return v


Address = Annotated[str, Field(max_length=50), AfterValidator(_address)]
Domain = Annotated[str, Field(max_length=253), AfterValidator(_domain)]
Item = Annotated[str, Field(min_length=1, max_length=300, pattern=NO_NUL)]


class Approval(BaseModel):
    """The decision approving the security level."""

    model_config = ConfigDict(extra="forbid")
    number: str | None = Field(default=None, max_length=100, pattern=NO_NUL)
    date: dt.date | None = None
    approver: str | None = Field(default=None, max_length=300, pattern=NO_NUL)


class Protection(BaseModel):
    """Four-layer protection status (Directive 14/CT-TTg)."""

    model_config = ConfigDict(extra="forbid")
    onsite_staff: bool = False
    professional_monitoring: bool = False
    independent_assessment: bool = False
    last_assessment_date: dt.date | None = None
    national_monitoring: bool = False


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=300, pattern=NO_NUL)
    owner_agency_id: IdField
    operator_agency_id: IdField
    function_class: FunctionClass
    information_types: list[InformationType] = Field(default_factory=list, max_length=4)
    security_level: int | None = Field(default=None, ge=1, le=5)
    approval: Approval = Field(default_factory=Approval)
    addresses: list[Address] = Field(default_factory=list, max_length=1000)
    domains: list[Domain] = Field(default_factory=list, max_length=1000)
    services: list[Item] = Field(default_factory=list, max_length=200)
    security_measures: list[Item] = Field(default_factory=list, max_length=200)
    security_provider: str | None = Field(default=None, max_length=300, pattern=NO_NUL)
    connectivity_provider: str | None = Field(default=None, max_length=300, pattern=NO_NUL)
    protection: Protection = Field(default_factory=Protection)
    log_sources: list[Item] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _unique(self) -> _Body:
        self.information_types = list(dict.fromkeys(self.information_types))
        return self


class SystemIn(_Body):
    code: str = Field(pattern=CODE, description="the system name alerts and events carry")


class SystemPatch(BaseModel):
    """Fields to change (absent: unchanged); a nested object given replaces the stored one."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=300, pattern=NO_NUL)
    owner_agency_id: IdField | None = None
    operator_agency_id: IdField | None = None
    function_class: FunctionClass | None = None
    information_types: list[InformationType] | None = Field(default=None, max_length=4)
    security_level: int | None = Field(default=None, ge=1, le=5)
    approval: Approval | None = None
    addresses: list[Address] | None = Field(default=None, max_length=1000)
    domains: list[Domain] | None = Field(default=None, max_length=1000)
    services: list[Item] | None = Field(default=None, max_length=200)
    security_measures: list[Item] | None = Field(default=None, max_length=200)
    security_provider: str | None = Field(default=None, max_length=300, pattern=NO_NUL)
    connectivity_provider: str | None = Field(default=None, max_length=300, pattern=NO_NUL)
    protection: Protection | None = None
    log_sources: list[Item] | None = Field(default=None, max_length=1000)


NOT_NULL = frozenset(
    {"name", "owner_agency_id", "operator_agency_id", "function_class", "information_types", "approval"}
    | {"addresses", "domains", "services", "security_measures", "protection", "log_sources"}
)


def columns(fields: dict[str, Any]) -> dict[str, Any]:
    """Body fields (already dumped) as column values: nested objects flattened."""
    out = dict(fields)
    if (a := out.pop("approval", None)) is not None:
        out |= {"approval_number": a["number"], "approval_date": a["date"], "approver": a["approver"]}
    if (p := out.pop("protection", None)) is not None:
        out |= p
    if "information_types" in out:
        out["information_types"] = [str(t) for t in dict.fromkeys(out["information_types"])]
    return out


class SystemOut(_Body):
    id: int
    code: str
    created_at: dt.datetime
    updated_at: dt.datetime
    addresses: list[str]
    domains: list[str]

    @classmethod
    def of(cls, s: System) -> SystemOut:
        return cls.model_validate(
            {
                **{k: getattr(s, k) for k in cls.model_fields if hasattr(System, k)},
                "approval": Approval(number=s.approval_number, date=s.approval_date, approver=s.approver),
                "protection": Protection(
                    onsite_staff=s.onsite_staff,
                    professional_monitoring=s.professional_monitoring,
                    independent_assessment=s.independent_assessment,
                    last_assessment_date=s.last_assessment_date,
                    national_monitoring=s.national_monitoring,
                ),
            }
        )


class SystemPage(BaseModel):
    items: list[SystemOut]
    next_cursor: str | None
