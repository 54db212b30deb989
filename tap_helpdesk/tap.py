"""TapHelpdesk: settings, stream discovery and the command-line entry point."""

from __future__ import annotations

import copy
import logging
import signal
import sys
import typing as t
from urllib.parse import urlparse

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.helpers._util import load_json
from singer_sdk.plugin_base import JSONSchemaValidator, _ConfigInput
from singer_sdk.singerlib import SingerMessageType, StateMessage

from tap_helpdesk.client import HelpdeskStream
from tap_helpdesk.errors import HelpdeskError, SettingsError, Stopped
from tap_helpdesk.fastpath import StdoutWriter, collect_garbage_less_often
from tap_helpdesk.limits import RequestBudget
from tap_helpdesk.providers import PROVIDERS, Provider
from tap_helpdesk.redaction import redact, redacted_traceback, register_secret
from tap_helpdesk.settings import COMMON
from tap_helpdesk.surrogates import replaced_warning
from tap_helpdesk.timestamps import parse_datetime, parse_zone, zero_dates_warning
from tap_helpdesk.values import (
    STATE_RESET,
    range_problems,
    read_state,
    state_problem,
    unknown_settings,
)

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if t.TYPE_CHECKING:
    from types import FrameType

    from jsonschema.exceptions import ValidationError
    from singer_sdk.streams import Stream

SIGNAL_NAMES = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT"}


#: derived from the registry (each provider module declares its block and credentials)
PROVIDER_SETTINGS: dict[str, th.ObjectType] = {key: p.settings for key, p in PROVIDERS.items()}
PROVIDER_CREDENTIALS: dict[str, tuple[str, ...]] = {
    key: p.credentials for key, p in PROVIDERS.items()
}


class StoppableWriter(StdoutWriter):
    """The stdout writer, told of a stop signal.

    A signal that lands while it writes is held until the write is whole, and the last
    STATE it wrote is kept for the stop.
    """

    def __init__(self) -> None:
        """A writer not writing, with no signal held and no STATE written yet."""
        super().__init__()
        self.writing = False
        self.held: int | None = None
        self.last_state: dict[str, t.Any] | None = None

    @override
    def write_message(self, message: t.Any) -> None:
        if message.type == SingerMessageType.STATE:
            self.last_state = copy.deepcopy(message.value)
        super().write_message(message)

    @override
    def flush(self) -> None:
        self.writing = True
        try:
            super().flush()
        finally:
            self.writing = False
        if self.held is not None:
            signum, self.held = self.held, None
            raise Stopped(signum)

    def close_stopped(self) -> None:
        """Deliver what is written, then the last STATE again: the one a rerun starts from.

        A record cut before its newline is ended.
        """
        if self._pending and not self._pending.endswith(b"\n"):
            self._pending += b"\n"
        self.flush()
        if self.last_state is not None:
            self.write_message(StateMessage(value=self.last_state))


class TapHelpdesk(Tap):
    """Singer tap for helpdesk tickets."""

    name = "tap-helpdesk"
    message_writer_class = StoppableWriter

    config_jsonschema = th.PropertiesList(
        *COMMON,
        *(
            th.Property(
                key,
                provider.settings,
                title=provider.label,
                description=f"{provider.label} settings; its streams are "
                "discovered and synced when its credentials are set.",
            )
            for key, provider in PROVIDERS.items()
        ),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """The tap as the SDK's Tap takes it (config, catalog, state, ...)."""
        self._budgets: dict[str, RequestBudget] = {}
        self._provider_settings: dict[str, dict[str, t.Any]] = {}
        self._stopping = False
        super().__init__(*args, **kwargs)

    # -- settings ----------------------------------------------------------------------

    def _register_secrets(self) -> None:
        # as given and as used (stripped): neither form may ever be printed
        for key, block in PROVIDER_SETTINGS.items():
            values = self._config.get(key)
            if not isinstance(values, dict):
                continue
            for name, schema in block.to_dict()["properties"].items():
                value = values.get(name)
                if schema.get("secret") and value is not None and not isinstance(value, dict):
                    register_secret(str(value))
                    register_secret(str(value).strip())

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        self._register_secrets()  # before any message could quote a value
        schema = dict(self.config_jsonschema)
        self.append_builtin_config(schema)
        blocks = {key: block.to_dict()["properties"] for key, block in PROVIDER_SETTINGS.items()}
        for warning in unknown_settings(self._config, schema["properties"], blocks):
            self.logger.warning("%s", warning)
        problems = [
            _describe_schema_error(error)
            for error in sorted(
                # the SDK's validator also fills in defaults (lookback_days: 1, ...)
                JSONSchemaValidator(schema).iter_errors(self._config),
                key=lambda e: list(e.absolute_path),
            )
        ]
        problems += self._semantic_problems()
        if not self.configured_providers():
            problems.append(
                "no provider is configured: set at least one of "
                + ", ".join(f"{key}.*" for key in PROVIDERS)
                + " (see tap-helpdesk --about)"
            )
        if problems and raise_errors:
            raise SettingsError("; ".join(dict.fromkeys(problems)))
        return problems

    def _semantic_problems(self) -> list[str]:
        problems = range_problems(self._config)
        for setting in ("start_date", "end_date"):
            value = self.config.get(setting)
            if value:
                try:
                    parse_datetime(str(value), parse_zone("UTC"))
                except (ValueError, TypeError):
                    problems.append(f"{setting}: {value!r} is not an ISO 8601 date-time")
        for key in self.configured_providers():
            block = self.provider_settings(key)
            missing = [name for name in PROVIDER_CREDENTIALS[key] if not block.get(name)]
            problems += [
                f"{key}.{name}: required to use {PROVIDERS[key].label}" for name in missing
            ]
            url = str(block.get("api_url") or "")
            parsed = urlparse(url)
            bad_url = parsed.scheme not in {"http", "https"} or not parsed.netloc
            if bad_url and "api_url" not in missing:  # a missing one is named once, above
                problems.append(f"{key}.api_url: must be an http(s) URL, got {url!r}")
            problems += range_problems(block, f"{key}.")
            if "timezone" in block:
                try:
                    parse_zone(str(block["timezone"]), f"{key}.timezone")
                except SettingsError as exc:
                    problems.append(str(exc))
        return problems

    def configured_providers(self) -> list[str]:
        """Providers with at least one credential set, in a stable order."""
        return [
            key
            for key in PROVIDERS
            if isinstance(self.config.get(key), dict)
            and any(self.config[key].get(name) for name in PROVIDER_CREDENTIALS[key])
        ]

    def provider_settings(self, key: str) -> dict[str, t.Any]:
        """One provider's settings block with the schema's defaults filled in.

        The SDK applies defaults to top-level settings only; a config file that sets just
        `enneo.api_token` must still get the documented rate limits and time zone.
        """
        if key not in self._provider_settings:
            properties = PROVIDER_SETTINGS[key].to_dict()["properties"]
            defaults = {name: p["default"] for name, p in properties.items() if "default" in p}
            block = self.config.get(key) or {}
            self._provider_settings[key] = {
                **defaults,
                # a token pasted with a newline is the token (both forms are secrets)
                **{name: _stripped(v) for name, v in block.items() if v is not None},
            }
        return self._provider_settings[key]

    def budget_for(self, provider: str) -> RequestBudget:
        """The request budget shared by every stream of one provider."""
        if provider not in self._budgets:
            block = self.provider_settings(provider)
            self._budgets[provider] = RequestBudget(
                block.get("requests_per_second"),
                block.get("requests_per_minute"),
            )
        return self._budgets[provider]

    # -- state -------------------------------------------------------------------------

    @override
    def load_state(self, state: dict[str, t.Any]) -> None:
        keys = {stream.name: _accepted_keys(stream) for stream in self.streams.values()}
        problem = state_problem(state, keys)
        if problem:
            raise SettingsError(f"state: {problem}; {STATE_RESET}")
        super().load_state(state)

    # -- running and stopping ------------------------------------------------------------

    @classmethod
    @override
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: _ConfigInput | None = None,
        state: t.IO[str] | None = None,
        catalog: t.IO[str] | None = None,
    ) -> None:
        # Tap.invoke, with the state file read here (one line when it is not JSON) and
        # the sync through run_sync (stop signals, the zero-date warning)
        super(Tap, cls).invoke(about=about, about_format=about_format)
        cls.print_version(print_fn=cls.logger.info)
        config = config or _ConfigInput()
        tap = cls(
            config=config.config,
            state=None if state is None else read_state(state.read()),
            catalog=None if catalog is None else load_json(catalog.read()),
            parse_env_config=config.parse_env,
            validate_config=True,
        )
        tap.run_sync()

    def run_sync(self) -> None:
        """sync_all, then a warning for zero dates read as null and lone surrogates replaced.

        A stop signal delivers what is written and the last STATE before it ends the run.
        """
        try:
            self.sync_all()
        except Stopped:
            self._stopping = True
            writer = self.message_writer
            if isinstance(writer, StoppableWriter):
                writer.close_stopped()
            raise
        for warning in (zero_dates_warning(), replaced_warning()):
            if warning:
                self.logger.warning("%s", warning)

    @override
    def _setup_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._handle_termination)
        signal.signal(signal.SIGINT, self._handle_termination)

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        if self._stopping:
            return  # already stopping: the STATE is on its way
        writer = self.message_writer
        if isinstance(writer, StoppableWriter) and writer.writing:
            writer.held = signum  # raised once the bytes being written are whole
            return
        self._stopping = True
        raise Stopped(signum)

    # -- streams -----------------------------------------------------------------------

    @override
    def discover_streams(self) -> list[Stream]:
        configured = self.configured_providers()
        chosen: list[Provider] = [PROVIDERS[key] for key in configured] or list(PROVIDERS.values())
        return [stream_type(self) for provider in chosen for stream_type in provider.stream_types]

    @override  # type: ignore[misc]
    def run_connection_test(self) -> bool:
        # `--test`: the connection check's table first (tap_helpdesk.check), then the SDK's
        # own test (a record per stream, which `meltano config <plugin> test` looks for).
        from tap_helpdesk.check import FAIL, connection_checks, render  # noqa: PLC0415

        checks = connection_checks(
            s for s in self.streams.values() if isinstance(s, HelpdeskStream)
        )
        sys.stderr.write(render(checks) + "\n")
        sys.stderr.flush()
        failed = [c for c in checks if c.status == FAIL]
        if failed:
            raise HelpdeskError(
                f"connection check: {len(failed)} check(s) failed "
                f"({', '.join(f'{c.provider} {c.check}' for c in failed)}); see the table above"
            )
        return super().run_connection_test()


def _describe_schema_error(error: ValidationError) -> str:
    path = ".".join(str(part) for part in error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        name = f"{path}.{missing}" if path else missing
        return f"{name}: required setting is missing"
    if error.validator == "enum":
        return f"{path}: must be one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "format":
        return f"{path}: {error.instance!r} is not a valid {error.validator_value}"
    return f"{path or 'config'}: {error.message}"


def _stripped(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _accepted_keys(stream: Stream) -> tuple[str | None, ...]:
    # a stream whose key is learned from the data (Filum) lists every key it can resume from
    accepted = getattr(stream, "accepted_replication_keys", None)
    return tuple(accepted) if accepted else (stream.replication_key,)


def _fail(line: str, code: int = 1) -> t.NoReturn:
    sys.stderr.write(f"tap-helpdesk: error: {line}\n")
    sys.stderr.flush()
    raise SystemExit(code)


def _stop_before_the_tap(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signum)


def main() -> None:
    """Entry point: run the SDK's CLI; every failure ends as one redacted line, exit 1.

    A stop signal exits 128 + its number, after the last safe STATE.
    """
    for signum in SIGNAL_NAMES:
        signal.signal(signum, _stop_before_the_tap)  # the tap installs its own
    collect_garbage_less_often()
    try:
        TapHelpdesk.cli()
    except HelpdeskError as exc:
        _fail(redact(str(exc)))
    except Stopped as stop:
        name = SIGNAL_NAMES.get(signal.Signals(stop.signum), str(stop.signum))
        _fail(
            f"stopped by {name}; the last STATE written is where a rerun resumes",
            128 + stop.signum,
        )
    except Exception as exc:
        logger = logging.getLogger(TapHelpdesk.name)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s", redacted_traceback(exc))
        _fail(f"{type(exc).__name__}: {redact(str(exc))}")


if __name__ == "__main__":  # pragma: no cover
    main()
