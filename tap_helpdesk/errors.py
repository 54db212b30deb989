"""Expected failures: each becomes one error line and a non-zero exit, never a traceback."""

from __future__ import annotations


class HelpdeskError(Exception):
    """A failure the user can fix (settings, credentials) or the provider caused.

    The message is the whole story: `tap-helpdesk` prints it as one line, redacted.
    """


class SettingsError(HelpdeskError):
    """A setting is missing or malformed; the message names the setting and the fix."""


class TargetGone(HelpdeskError):
    """Whatever reads the tap's output (the target) closed it: nothing more can be delivered."""


class ProviderError(HelpdeskError):
    """A provider answered with something we cannot use; the message starts with its name."""

    def __init__(self, provider: str, message: str) -> None:
        """The message, prefixed with the provider's label."""
        super().__init__(f"{provider}: {message}")
        self.provider = provider


class UnreadableValue(ValueError):
    """A provider value its schema cannot hold.

    Say a timestamp that does not parse, or an id that is not an integer. It knows the
    field and the value; the stream that meets it names itself and the record
    (tap_helpdesk.values.record_error).
    """

    def __init__(self, value: object, expected: str, field: str = "") -> None:
        """`value` is not `expected` (say "an integer"), in `field` when it is known."""
        self.value = value
        self.expected = expected
        self.field = field
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        where = f"field {field!r} holds " if field else ""
        super().__init__(f"{where}{shown}, which is not {expected}")

    def in_field(self, field: str) -> UnreadableValue:
        """The same problem, located in `field` (a dotted path for nested values)."""
        inner = f"{field}.{self.field}" if self.field else field
        return UnreadableValue(self.value, self.expected, inner)


class Stopped(BaseException):
    """SIGTERM or SIGINT: the run stops where it is.

    A BaseException, so that no `except Exception` on the way out mistakes it for a
    failure to handle.
    """

    def __init__(self, signum: int) -> None:
        """The run was told to stop by signal `signum`."""
        super().__init__(signum)
        self.signum = signum
