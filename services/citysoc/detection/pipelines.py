"""Processing pipeline selection: which pySigma pipeline a rule goes through before compilation.

Contract (:func:`pipeline_for`):

* ``logsource.product == windows``: pySigma's ``sysmon`` pipeline followed by ``windows-logsources``
  (from the installed pysigma-pipeline-sysmon / pysigma-pipeline-windows packages), ordered exactly as
  sigma-cli's resolver orders them (priority, then name). They add ``EventID``/``Channel`` conditions
  and rewrite the logsource, which is how Windows events are gated - as the pySigma reference does.
  Security 4688 is NOT mapped for ``process_creation`` by these two (that is ``windows-audit``), so
  process_creation rules match Sysmon EID 1 only, like the reference.
* Linux / syslog rules (product linux or unix, or no product and a syslog service): the project's
  :func:`citysoc_syslog_pipeline`, which maps common Sigma/syslog field names onto the names produced
  by the citysoc syslog parser (table below). Field names compare case-insensitively in the engine, so
  the table is keyed by casefolded name.
* Anything else: no pipeline (field names used as written).

Syslog field mapping (rule field, any case -> event field):

============================================================  ===============
Rule field names                                              Event field
============================================================  ===============
Hostname, host, host_name, HostName, Computer, ComputerName   ``hostname``
Program, ProcessName, process_name, app, AppName, app_name,   ``app_name``
application, syslog_program, ident, SyslogIdentifier
Pid, ProcessId, process_id, procid                            ``procid``
MsgId, msg_id, MessageId                                      ``msgid``
Facility, syslog_facility                                     ``facility``
Severity, syslog_severity                                     ``severity``
Message, msg, syslog_message, text                            ``message``
SourceIp, SourceAddress, src, src_ip, ip, IpAddress,          ``src_ip``
ClientIp, client_ip, rhost, remote_ip
SourcePort, src_port, srcport, IpPort, ClientPort, port       ``src_port``
User, UserName, user_name, TargetUserName, account, ruser     ``user``
AuthMethod, auth_method, method                               ``auth_method``
Outcome, result                                               ``outcome``
============================================================  ===============
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from sigma.pipelines.sysmon.sysmon import sysmon_pipeline
from sigma.pipelines.windows.windows import windows_logsource_pipeline
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.resolver import ProcessingPipelineResolver
from sigma.processing.transformations import FieldFunctionTransformation
from sigma.rule import SigmaLogSource

_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "hostname": ("hostname", "host", "host_name", "computer", "computername"),
    "app_name": (
        "program",
        "processname",
        "process_name",
        "app",
        "appname",
        "app_name",
        "application",
        "syslog_program",
        "ident",
        "syslogidentifier",
    ),
    "procid": ("pid", "processid", "process_id", "procid"),
    "msgid": ("msgid", "msg_id", "messageid"),
    "facility": ("facility", "syslog_facility"),
    "severity": ("severity", "syslog_severity"),
    "message": ("message", "msg", "syslog_message", "text"),
    "src_ip": (
        "sourceip",
        "sourceaddress",
        "src",
        "src_ip",
        "ip",
        "ipaddress",
        "clientip",
        "client_ip",
        "rhost",
        "remote_ip",
    ),
    "src_port": ("sourceport", "src_port", "srcport", "ipport", "clientport", "port"),
    "user": ("user", "username", "user_name", "targetusername", "account", "ruser"),
    "auth_method": ("authmethod", "auth_method", "method"),
    "outcome": ("outcome", "result"),
}

SYSLOG_FIELD_MAPPING: Final[Mapping[str, str]] = MappingProxyType(
    {alias: target for target, aliases in _ALIASES.items() for alias in aliases}
)
"""Casefolded rule field name -> citysoc syslog field name."""

SYSLOG_PRODUCTS: Final = frozenset({"linux", "unix"})
SYSLOG_SERVICES: Final = frozenset({"syslog", "sshd", "auth", "sudo", "cron", "su"})
"""Services that make a product-less rule a syslog rule."""

WINDOWS_PIPELINES: Final = ("sysmon", "windows-logsources")


def _map_syslog_field(field: str | None) -> str:
    # FieldFunctionTransformation only calls this for named fields (keywords are left alone).
    assert field is not None
    return SYSLOG_FIELD_MAPPING.get(field.casefold(), field)


def citysoc_syslog_pipeline() -> ProcessingPipeline:
    """Map Sigma/syslog field aliases onto the citysoc syslog parser's field names (see module doc)."""
    return ProcessingPipeline(
        name="citysoc syslog field names",
        priority=20,
        items=[
            ProcessingItem(
                identifier="citysoc_syslog_fieldnames",
                transformation=FieldFunctionTransformation(mapping={}, transform_func=_map_syslog_field),
                rule_condition_linking=any,
                rule_conditions=[
                    *(LogsourceCondition(product=p) for p in sorted(SYSLOG_PRODUCTS)),
                    *(LogsourceCondition(service=s) for s in sorted(SYSLOG_SERVICES)),
                ],
            )
        ],
    )


def windows_pipeline() -> ProcessingPipeline:
    """``sysmon`` + ``windows-logsources``, merged the way sigma-cli's resolver merges them."""
    resolver = ProcessingPipelineResolver(
        {"sysmon": sysmon_pipeline, "windows-logsources": windows_logsource_pipeline}
    )
    return resolver.resolve(list(WINDOWS_PIPELINES))


def pipeline_kind(logsource: SigmaLogSource) -> str | None:
    """``"windows"``, ``"syslog"`` or None (no pipeline) for a rule's original logsource."""
    product = (logsource.product or "").casefold()
    if product == "windows":
        return "windows"
    if product in SYSLOG_PRODUCTS:
        return "syslog"
    if not product and (logsource.service or "").casefold() in SYSLOG_SERVICES:
        return "syslog"
    return None


class PipelineSet:
    """One instance of each pipeline, reused for every rule of a load (apply() resets their state)."""

    def __init__(self) -> None:
        self._pipelines: dict[str, ProcessingPipeline] = {
            "windows": windows_pipeline(),
            "syslog": citysoc_syslog_pipeline(),
        }

    def pipeline_for(self, logsource: SigmaLogSource) -> ProcessingPipeline | None:
        kind = pipeline_kind(logsource)
        return None if kind is None else self._pipelines[kind]


def pipeline_for(logsource: SigmaLogSource) -> ProcessingPipeline | None:
    """A fresh pipeline for a rule's logsource (convenience; the engine reuses a :class:`PipelineSet`)."""
    return PipelineSet().pipeline_for(logsource)
