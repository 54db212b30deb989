"""The filum_tickets stream: POST /external/tickets/export, walked by day windows (walk.py).

Answers are streamed (`stream_answers`): the engine leaves each body to the walk, which
emits rows as they are decoded (decoding.py); a body cut off while it is read is asked
for again by the engine, whose budget and retries every request goes through.

The bookmark (see walk.py) is a full UTC timestamp under `replication_key`, which names
the record field it holds: the date the export range applies to once the answers showed
it, `created_at` until then. A run starts at the bookmark's Filum-zone day minus
lookback_days. A bare date (`"2024-06-14"`, the last fully exported day, written by
earlier versions under the nominal `updated_at`) is read as that day; it is replaced by
the first value from the data that is later.
"""

from __future__ import annotations

import math
import sys
import typing as t
from datetime import date, datetime, timedelta

import msgspec

from tap_helpdesk.client import HelpdeskStream
from tap_helpdesk.errors import ProviderError
from tap_helpdesk.providers.filum.answers import DAY_FIELDS, DEFAULT_BOOKMARK_FIELD, STATUSES
from tap_helpdesk.providers.filum.decoding import ExportDecoder
from tap_helpdesk.providers.filum.records import (
    LABEL,
    SCHEMA_FIELDS,
    TIMESTAMP_FIELDS,
    custom_columns,
)
from tap_helpdesk.providers.filum.walk import FilumWalk
from tap_helpdesk.schemas import load_schema
from tap_helpdesk.timestamps import parse_datetime
from tap_helpdesk.windows import Window

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Sequence

    import requests
    from singer_sdk.helpers.types import Context

ACCEPT = {"csv": "text/csv", "json": "application/json"}


class FilumTicketsStream(HelpdeskStream):
    """Tickets: POST /external/tickets/export, walked by day windows."""

    provider = "filum"
    provider_label = LABEL
    credential_settings = ("api_token", "organization_id")
    name = "filum_tickets"
    path = "/external/tickets/export"
    http_method = "POST"
    # sent with organization-id and auth-type headers
    bearer_token_setting = "api_token"  # noqa: S105 (the setting's name, not a secret)
    primary_keys = ("ticket_id",)
    is_sorted = False
    timestamp_fields = TIMESTAMP_FIELDS
    stream_answers = True
    #: The fields a state of this stream may hold a bookmark of (see the module doc).
    accepted_replication_keys: t.ClassVar[tuple[str, ...]] = DAY_FIELDS

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """The SDK's stream, with no export headers seen and no walk yet."""
        super().__init__(*args, **kwargs)
        #: custom-field header -> top-level column, as named from the export headers
        self._column_names: dict[str, str] = {}
        self._walk: FilumWalk | None = None

    @property
    @override
    def replication_key(self) -> str:
        """The field the bookmark holds values of.

        The walk's, once a run has one; before, the one the state names (either date),
        else created_at.
        """
        if self._walk is not None:
            return self._walk.bookmark_field
        bookmark = self.tap_state.get("bookmarks", {}).get(self.name, {})
        recorded = bookmark.get("replication_key") if isinstance(bookmark, dict) else None
        return recorded if recorded in DAY_FIELDS else DEFAULT_BOOKMARK_FIELD

    @replication_key.setter
    def replication_key(self, value: str | None) -> None:
        return  # a catalog's replication key is not what the bookmark holds (see above)

    # -- settings and schema -----------------------------------------------------------

    @property
    def export_format(self) -> str:
        """The export's format: csv (the documented default) or json."""
        return str(self.provider_config.get("export_format") or "csv")

    @property
    @override
    def http_headers(self) -> dict[str, str]:
        headers = super().http_headers
        headers.update(
            {
                "Accept": ACCEPT[self.export_format],
                "organization-id": str(self.provider_config["organization_id"]),
                "auth-type": "token",
            }
        )
        return headers

    @property
    @override
    def schema(self) -> dict[str, t.Any]:
        if self._input_schema is not None:  # a catalog already holds the discovered columns
            return self._input_schema
        if self._schema is None:
            schema = load_schema(self.name)
            if self.provider_config.get("custom_fields_as_columns"):
                for header, column in custom_columns(self.sample_headers()).items():
                    schema["properties"][column] = {
                        "type": ["string", "null"],
                        "description": f"Custom field {header!r} (also in custom_fields).",
                    }
            self._schema = schema
        return self._schema

    def sample_headers(self) -> list[str]:
        """The column headers of a one-day CSV export (its header row only).

        Asked for through the provider's budget and retries.
        """
        today = datetime.now(self.zone).date()
        prepared = self.build_request(Window(today, today), None)
        prepared.headers["Accept"] = ACCEPT["csv"]
        send = self.request_decorator(t.cast("t.Any", self._header_row))
        headers: list[str] = send(prepared)
        return headers

    def _header_row(self, prepared: requests.PreparedRequest) -> list[str]:
        response = self._request(prepared, None)
        try:
            return self.decoder().header_row(response)
        finally:
            response.close()

    def custom_column_map(self) -> dict[str, str]:
        """Custom-field header -> column, for the columns the (catalog) schema holds."""
        if not self.provider_config.get("custom_fields_as_columns"):
            return {}
        wanted = set(self.effective_schema.get("properties", {})) - SCHEMA_FIELDS
        return {h: c for h, c in self._column_names.items() if c in wanted}

    def columns_for(self, headers: Sequence[str]) -> dict[str, str]:
        """The custom-field columns of an export with these headers."""
        if self.provider_config.get("custom_fields_as_columns"):
            self._column_names.update(custom_columns(headers))
        return self.custom_column_map()

    def decoder(self) -> ExportDecoder:
        """Decodes this stream's export answers."""
        return ExportDecoder(self.zone, self.columns_for, self.answer_expired)

    @override
    def get_url_params(
        self,
        context: Context | None,
        next_page_token: Window[date] | None,
    ) -> dict[str, t.Any]:
        window = next_page_token
        if window is None:  # pragma: no cover - every request names its window
            return {}
        params: dict[str, t.Any] = {
            "start_date": window.start.isoformat(),
            "end_date": window.end.isoformat(),
        }
        # Whether an export without `statuses` includes deleted tickets is not documented:
        # a window not split by status names every documented status, `deleted` included,
        # so deleted tickets come flagged (status "deleted") under either reading.
        params["statuses"] = list(STATUSES)
        for name, values in window.filters:
            params[name] = list(values)  # sent as repeated keys: statuses=open&statuses=pending
        return params

    @override
    def get_new_paginator(self) -> None:
        return None  # no paging: the walk names every request

    # -- the walk ----------------------------------------------------------------------

    @override
    def new_walk(self, context: Context | None) -> FilumWalk:
        first, last = self.export_range(context)
        self.logger.info("%s: exporting days %s..%s (days in %s)", LABEL, first, last, self.zone)
        self._walk = FilumWalk(
            first,
            last,
            self.zone,
            self.decoder().records,
            filter_field=self.learned_field(context),
            warn_unsplittable=self.provider_config.get("on_unsplittable_cap") == "warn",
            read_whole=self.answer_read_ahead,
            ends_today=last >= datetime.now(self.zone).date(),
        )
        return self._walk

    def export_range(self, context: Context | None) -> tuple[date, date]:
        """The first and last day to export, in the Filum zone.

        From the bookmark's day minus lookback_days (or start_date) to end_date or today.
        """
        today = datetime.now(self.zone).date()
        first = self.config_start_date().astimezone(self.zone).date()
        bookmark = self.bookmark_day(context)
        if bookmark is not None:
            first = max(first, bookmark - timedelta(days=self.lookback_days))
        end = self.sync_end()
        last = min(end.astimezone(self.zone).date(), today) if end else today
        return first, last

    @property
    def lookback_days(self) -> int:
        """Whole days re-read before the bookmark (the setting's default when unset)."""
        value = self.config.get("lookback_days")
        if value is None:  # the SDK leaves top-level defaults out of self.config here
            value = self._tap.config_jsonschema["properties"]["lookback_days"].get("default", 0)
        return math.ceil(float(value))

    def bookmark_day(self, context: Context | None) -> date | None:
        """The Filum-zone day of the bookmark (a bare date is that day itself)."""
        value = self.get_starting_replication_key_value(context)
        if not value:
            return None
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            return parse_datetime(str(value), self.zone).astimezone(self.zone).date()

    @override
    def bookmark_in_future(self, context: Context | None) -> bool:
        # The bookmark is a time from the provider's clock, which may run ahead of ours:
        # only a day after today (a state this walk cannot have written) is in the future.
        day = self.bookmark_day(context)
        if day is None or day <= datetime.now(self.zone).date():
            return False
        return super().bookmark_in_future(context)

    def learned_field(self, context: Context | None) -> str | None:
        """The date the export range applies to, as an earlier run learned it.

        That is a state holding updated_at values (created_at is also what it holds before
        learning).
        """
        state = self.get_context_state(context)
        value = str(state.get("replication_key_value") or "")
        if state.get("replication_key") == "updated_at" and "T" in value:
            return "updated_at"
        return None

    @override
    def post_process(
        self,
        row: dict[str, t.Any],
        context: Context | None = None,
    ) -> dict[str, t.Any] | None:
        return row  # built in final form by RecordBuilder

    # -- errors ------------------------------------------------------------------------

    @override
    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status == 401:
            raise ProviderError(
                LABEL,
                f"authentication failed (HTTP 401: {self.provider_error_text(response)}): "
                "check filum.api_token",
            )
        if status == 403:
            raise ProviderError(
                LABEL,
                f"access denied (HTTP 403: {self.provider_error_text(response)}): check "
                "filum.organization_id, and that filum.api_token belongs to that organization",
            )
        super().validate_response(response)

    @override
    def provider_error_text(self, response: requests.Response) -> str:
        try:
            body = msgspec.json.decode(response.content)
        except (msgspec.DecodeError, RecursionError):
            body = None
        if isinstance(body, dict) and isinstance(body.get("detail"), list):
            return "; ".join(_validation_error(item) for item in body["detail"])
        return super().provider_error_text(response)


#: Settings to name when the API rejects a parameter or header (FastAPI `loc`).
_SETTING_OF = {
    "organization-id": "filum.organization_id",
    "authorization": "filum.api_token",
    "start_date": "start_date",
    "end_date": "end_date",
}


def _validation_error(item: object) -> str:
    """One FastAPI validation error: `header.organization-id: Input should be ... (check ...)`."""
    if not isinstance(item, dict):
        return str(item)
    loc = [str(part) for part in item.get("loc") or []]
    text = f"{'.'.join(loc)}: {item.get('msg') or item.get('type') or 'invalid'}"
    settings = [_SETTING_OF[part] for part in loc if part in _SETTING_OF]
    return text + (f" (check {settings[0]})" if settings else "")


__all__ = ["DAY_FIELDS", "FilumTicketsStream"]
