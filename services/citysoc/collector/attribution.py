"""The sources registry: who sent this? Pure lookups built once from settings.

Rules, in order: an HTTP token fixes the agency (never the payload); within that agency, a source
entry matching the host name (then the source IP) names the system, else the agency's default
system. For syslog, the source IP (longest CIDR prefix wins), then the host name, name agency and
system. Unknown sources are attributed to ``UNATTRIBUTED`` and flagged, never dropped.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from citysoc.core.config import Settings
from citysoc.core.event import UNATTRIBUTED

_IP_CACHE_MAX = 65_536

type _Net = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Attribution:
    agency: str
    system: str
    attributed: bool
    security_level: int = 0


class SourceRegistry:
    def __init__(self, settings: Settings) -> None:
        self._nets: list[tuple[_Net, str, str]] = []
        self._hosts: dict[str, list[tuple[str, str]]] = {}
        self._default_system = {a.code: a.default_system for a in settings.agencies}
        self._levels = {(s.agency, s.system): s.security_level for s in settings.sources}
        for s in settings.sources:
            for c in s.cidrs:
                self._nets.append((ipaddress.ip_network(c, strict=False), s.agency, s.system))
            for h in s.hostnames:
                self._hosts.setdefault(h.lower(), []).append((s.agency, s.system))
        # Longest prefix first, so the most specific entry wins.
        self._nets.sort(key=lambda t: t[0].prefixlen, reverse=True)
        # Source address -> match: a collector sees the same few thousand senders over and over.
        self._ip_cache: dict[str, tuple[str, str] | None] = {}

    def _by_ip(self, ip: str, agency: str | None) -> tuple[str, str] | None:
        if agency is None:
            if ip in self._ip_cache:
                return self._ip_cache[ip]
            if len(self._ip_cache) >= _IP_CACHE_MAX:
                self._ip_cache.clear()  # bounded: odd inputs must not grow memory
            found = self._by_ip_uncached(ip, None)
            self._ip_cache[ip] = found
            return found
        return self._by_ip_uncached(ip, agency)

    def _by_ip_uncached(self, ip: str, agency: str | None) -> tuple[str, str] | None:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        for net, ag, system in self._nets:
            if addr.version == net.version and addr in net and (agency is None or ag == agency):
                return ag, system
        return None

    def _by_host(self, host: str, agency: str | None) -> tuple[str, str] | None:
        for ag, system in self._hosts.get(host.lower(), ()):
            if agency is None or ag == agency:
                return ag, system
        return None

    def attribute(self, *, source_ip: str, host: str, token_agency: str | None) -> Attribution:
        if token_agency is not None:
            hit = self._by_host(host, token_agency) if host else None
            hit = hit or self._by_ip(source_ip, token_agency)
            system = hit[1] if hit else self._default_system.get(token_agency, "unknown")
            return Attribution(token_agency, system, True, self._levels.get((token_agency, system), 0))
        hit = self._by_ip(source_ip, None) or (self._by_host(host, None) if host else None)
        if hit:
            return Attribution(hit[0], hit[1], True, self._levels.get(hit, 0))
        return Attribution(UNATTRIBUTED, UNATTRIBUTED, False)
