"""Expected failures: each becomes one error line and a non-zero exit, never a traceback."""

from __future__ import annotations


class HelpdeskError(Exception):
    """A failure the user can fix (settings, credentials) or the provider caused.

    The message is the whole story: `tap-helpdesk` prints it as one line, redacted.
    """


class SettingsError(HelpdeskError):
    """A setting is missing or malformed; the message names the setting and the fix."""


class ProviderError(HelpdeskError):
    """A provider answered with something we cannot use; the message starts with its name."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
