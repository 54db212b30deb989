"""Provider registry: one module per provider, each listing its stream classes."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from tap_helpdesk.providers import enneo, teamwork_desk

if t.TYPE_CHECKING:
    from tap_helpdesk.client import HelpdeskStream


@dataclass(frozen=True)
class Provider:
    """A helpdesk API: its settings block key, the name users see, and its streams."""

    key: str
    label: str
    stream_types: tuple[type[HelpdeskStream], ...]


PROVIDERS: dict[str, Provider] = {
    provider.key: provider
    for provider in (
        Provider("filum", "Filum CX", ()),
        Provider("socialboards", "Socialboards", ()),
        Provider("teamwork_desk", "Teamwork Desk", teamwork_desk.STREAMS),
        Provider("proprofs", "ProProfs Help Desk", ()),
        Provider("enneo", "Enneo", enneo.STREAMS),
    )
}
