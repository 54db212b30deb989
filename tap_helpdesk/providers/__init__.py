"""The provider registry: the one list of provider modules, each declaring itself.

A provider module (or package) under tap_helpdesk/providers/ defines `PROVIDER`, a
`Provider`: its settings block key, the name users see, its settings block, the settings
that turn it on, and its stream classes (parents before children). Everything else —
the tap's settings schema, the per-provider checks, the Meltano plugin definitions, the
README's settings table — is derived from it.

Providers kept outside the package (a private API, or the test that proves a sixth
provider needs no other file) are named, as dotted module paths, in the environment
variable TAP_HELPDESK_PROVIDER_MODULES (comma-separated).
"""

from __future__ import annotations

import importlib
import os
import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from singer_sdk import typing as th

#: the provider modules, in the order their streams are discovered
PROVIDER_MODULES = (
    "tap_helpdesk.providers.filum",
    "tap_helpdesk.providers.socialboards",
    "tap_helpdesk.providers.teamwork_desk",
    "tap_helpdesk.providers.proprofs",
    "tap_helpdesk.providers.enneo",
)
EXTRA_MODULES_VARIABLE = "TAP_HELPDESK_PROVIDER_MODULES"


@dataclass(frozen=True)
class Provider:
    """A helpdesk API as the tap knows it."""

    #: the settings block (`enneo`), also the prefix of its stream names
    key: str
    #: the name users see in messages ("Enneo")
    label: str
    #: its settings block
    settings: th.ObjectType
    #: settings that must all be set for its streams to run; any one of them turns the
    #: provider on (Meltano fills every block's other settings with defaults). Those but
    #: api_url are the ones an authentication failure names.
    credentials: tuple[str, ...]
    #: stream classes, parents before children
    stream_types: tuple[type[t.Any], ...]

    def __post_init__(self) -> None:
        """Each fact once: the streams learn their provider's key, label and credentials.

        tap_helpdesk.http.HttpStream reads them for error lines.
        """
        for stream_type in self.stream_types:
            stream_type.provider = self.key
            stream_type.provider_label = self.label
            stream_type.credential_settings = tuple(
                name for name in self.credentials if name != "api_url"
            )


def _load(path: str) -> Provider:
    provider = importlib.import_module(path).PROVIDER
    if not isinstance(provider, Provider):
        raise TypeError(f"{path}.PROVIDER is not a Provider")
    return provider


def _modules() -> list[str]:
    extra = os.environ.get(EXTRA_MODULES_VARIABLE, "")
    return [*PROVIDER_MODULES, *(m.strip() for m in extra.split(",") if m.strip())]


PROVIDERS: dict[str, Provider] = {p.key: p for p in map(_load, _modules())}
PROVIDER_KEYS = tuple(PROVIDERS)
