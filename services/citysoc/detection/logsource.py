"""Logsource gating: may a rule (its logsource after pipelines) fire on an event (its collector hints)?

Contract (:meth:`LogsourceGate.allows`, pure):

1. **Product.** The event's product is its ``Logsource.product`` hint, or ``windows`` when the hint is
   missing and the event is in ``evtx_json`` format (:func:`event_product`). When both the rule and the
   event name a product they must be equal (case-insensitive): a linux/macos rule never fires on a
   Windows event and vice versa. A rule without product, or an event without a product, passes.
2. **Windows rules** (product windows) are gated only by product here; service and category are gated
   by the ``Channel``/``EventID`` conditions the Windows pipelines added to the rule itself - exactly
   what the pySigma reference evaluates.
3. **Other rules**: a rule ``service`` requires the event's service hint to be that service, or one that
   implies it (:data:`IMPLIED_SERVICES`: an ``sshd`` event is also an ``auth`` and a ``syslog`` event);
   a rule ``category`` requires the event's category hint to be equal. A missing event hint does not
   satisfy a rule service/category (an unknown source never fires e.g. a proxy rule by accident).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from sigma.rule import SigmaLogSource

from citysoc.core.event import Event, Logsource

WINDOWS: Final = "windows"

IMPLIED_SERVICES: Final = MappingProxyType(
    {
        "sshd": frozenset({"auth", "syslog"}),
        "sudo": frozenset({"auth", "syslog"}),
        "su": frozenset({"auth", "syslog"}),
        "login": frozenset({"auth", "syslog"}),
        "auth": frozenset({"syslog"}),
        "cron": frozenset({"syslog"}),
        "vsftpd": frozenset({"syslog"}),
        "named": frozenset({"syslog"}),
    }
)
"""Event service hint -> further rule services it satisfies (Linux syslog programs)."""


def _fold(value: str | None) -> str | None:
    return value.casefold() if value else None


def event_product(event: Event) -> str | None:
    """The event's product for gating (casefolded): its hint, else windows for EVTX JSON."""
    product = _fold(event.logsource.product)
    if product is None and event.format == "evtx_json":
        return WINDOWS
    return product


@dataclass(frozen=True, slots=True)
class LogsourceGate:
    """A rule's logsource requirements (casefolded; None = no requirement)."""

    product: str | None
    service: str | None
    category: str | None

    @classmethod
    def for_rule(cls, logsource: SigmaLogSource) -> LogsourceGate:
        """Gate for a rule's logsource AFTER its processing pipeline ran."""
        product = _fold(logsource.product)
        if product == WINDOWS:
            return cls(product, None, None)
        return cls(product, _fold(logsource.service), _fold(logsource.category))

    def product_allows(self, product: str | None) -> bool:
        return self.product is None or product is None or self.product == product

    def allows(self, hints: Logsource, product: str | None) -> bool:
        """``product`` is :func:`event_product` of the event whose hints are ``hints``."""
        if not self.product_allows(product):
            return False
        if self.service is not None:
            service = _fold(hints.service)
            if service is None:
                return False
            if service != self.service and self.service not in IMPLIED_SERVICES.get(service, ()):
                return False
        return self.category is None or _fold(hints.category) == self.category
