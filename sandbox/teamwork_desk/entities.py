"""Teamwork Desk sandbox: the entities tickets refer to, and the fields derived from ids."""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta, timezone

API_KEY = "tkn.v1_sandbox-teamwork-key"
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
MS = timedelta(milliseconds=1)
STATUS_NAMES = [
    ("active", "Active"),
    ("waiting", "Waiting on customer"),
    ("onhold", "On hold"),
    ("solved", "Solved"),
    ("closed", "Closed"),
    ("spam", "Spam"),
]
PRIORITY_NAMES = ["low", "medium", "high"]
TYPE_NAMES = ["Question", "Problem", "Incident", "Feature request"]
SOURCE_NAMES = ["Email", "Email (Manual)", "Phone", "Docs"]
INBOX_NAMES = ["Support", "Billing", "Sales", "Hỗ trợ"]
REF_KINDS = {
    "customer": "customers",
    "agent": "users",
    "inbox": "inboxes",
    "company": "companies",
    "status": "ticketstatuses",
    "priority": "ticketpriorities",
    "type": "tickettypes",
    "source": "ticketsources",
}


def rfc3339(moment: datetime | None) -> str | None:
    """UTC moment -> `2024-04-24T16:17:38.594Z`."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def parse_time(text: str) -> datetime:
    """RFC 3339 filter value -> aware UTC moment."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def user_ref(n: int) -> dict[str, t.Any]:
    """A reference to a user (ids 1 to 12), chosen by `n`."""
    return {"id": 1 + n % 12, "type": "users"}


def entity_details(kind: str, n: int) -> dict[str, t.Any]:
    """Fields every sideloaded entity has.

    They are derived from its id, with no draw from the seeded generator, so the other
    fields stay as they were.
    """
    details: dict[str, t.Any] = {"state": "active", "createdBy": user_ref(n), "updatedBy": None}
    if n % 2:
        details["updatedBy"] = user_ref(n + 1)
    if kind in {"ticketstatuses", "ticketpriorities", "tickettypes", "ticketsources"}:
        details.update(icon=("circle", "flag", "star")[n % 3], isCustom=n > 3)
        details.setdefault("color", ("#2ecc71", "#f1c40f", "#e74c3c")[n % 3])
    return details


#: the fields each kind has beyond the common ones, by id
KIND_DETAILS: dict[str, t.Callable[[int], dict[str, t.Any]]] = {
    "users": lambda n: {
        "avatarURL": f"https://cdn.example.com/avatars/u{n}.png" if n % 3 else None,
        "isAppOwner": n == 1,
        "isPartTime": n % 4 == 0,
        "onlineStatus": ("online", "away", "offline")[n % 3],
        "timezone": ("Europe/Berlin", "America/Chicago", "Asia/Ho_Chi_Minh")[n % 3],
        "title": ("Support agent", "Team lead", None)[n % 3],
    },
    "inboxes": lambda n: {
        "autoReplyEnabled": n % 2 == 1,
        "clientOnly": n == 3,
        "isPublic": n != 3,
        "localPart": ("support", "billing", "sales", "hotro")[(n - 1) % 4],
        "notificationsAlwaysOn": n % 2 == 0,
        "publicIconImage": f"https://cdn.example.com/inbox{n}.png" if n % 2 else None,
    },
    "companies": lambda n: {
        "customers": [{"id": n, "type": "customers"}],
        "description": f"Customer account {n}" if n % 2 else None,
        "details": "Key account" if n % 3 == 0 else None,
        "domains": [{"id": n, "type": "domains"}],
        "industry": ("Energy", "Retail", "Logistics")[n % 3],
        "kind": "company",
        "note": "Invoices by post" if n % 4 == 0 else None,
        "permission": ("own", "all")[n % 2],
    },
    "customers": lambda n: {
        "address": f"Hauptstraße {n}, 10115 Berlin" if n % 3 else None,
        "avatarURL": f"https://cdn.example.com/avatars/c{n}.png" if n % 4 == 0 else None,
        "contacts": [{"id": n, "type": "contacts"}] if n % 2 else [],
        "externalId": f"CRM-{n:05d}",
        "facebookURL": f"https://facebook.com/c{n}" if n % 5 == 0 else None,
        "jobTitle": ("Buyer", "Owner", None)[n % 3],
        "linkedinURL": f"https://linkedin.com/in/c{n}" if n % 5 == 1 else None,
        "mobile": f"+49 151 {n:07d}" if n % 2 else None,
        "notes": "Prefers phone calls" if n % 6 == 0 else None,
        "organization": f"Company {n} GmbH" if n % 2 == 0 else None,
        "phone": f"+49 30 {n:07d}",
        "timezoneId": 1 + n % 30,
        "trusted": n % 3 == 0,
        "twitterHandle": f"@c{n}" if n % 7 == 0 else None,
        "verifiedEmail": n % 2 == 0,
        "welcomeEmailSent": n % 3 != 1,
    },
    "tags": lambda n: {
        "createdAt": "2024-01-01T00:00:00.000Z",
        "updatedAt": "2024-03-01T08:30:00.000Z" if n % 2 else None,
    },
}


def add_details(kind: str, entities: dict[int, dict[str, t.Any]]) -> None:
    """Add to each entity of `kind` the common fields and those of its kind."""
    extra = KIND_DETAILS.get(kind, lambda n: {})
    for n, entity in entities.items():
        entity.update({**entity_details(kind, n), **extra(n)})


def ticket_details(
    ticket: dict[str, t.Any], thread: list[dict[str, t.Any]], archived_at: datetime | None
) -> dict[str, t.Any]:
    """The rest of a ticket, derived from its id, state and thread.

    No draw from the generator: each field is set on some tickets, null or empty on others.
    """
    n = ticket["id"]
    deleted = ticket["state"] == "deleted"
    created = ticket["createdAt"]
    return {
        "activities": [{"id": n * 10, "type": "activities"}] if n % 2 else [],
        "archivedAt": rfc3339(archived_at),
        "businesshours": {"id": 1, "type": "businesshours"},
        "children": [{"id": n + 100000, "type": "tickets"}] if n % 11 == 0 else [],
        "companycustomers": [{"id": 1 + n % 5, "type": "customers"}] if n % 3 == 0 else [],
        "contact": {"id": n, "type": "contacts"} if n % 2 else None,
        "createdBy": user_ref(n),
        "customfields": [
            {"id": 7, "type": "customfields", "meta": {"value": ("Gold", "Silver")[n % 2]}}
        ]
        if n % 3
        else [],
        "deletedAt": rfc3339(ticket["updatedAt"]) if deleted else None,
        "deletedBy": user_ref(n) if deleted else None,
        "files": [{"id": n * 3, "type": "files"}] if n % 4 == 0 else [],
        "followers": [user_ref(n + 2)] if n % 3 == 1 else [],
        "happinessRating": {"rating": ("good", "ok", "bad")[n % 3]} if n % 5 == 0 else None,
        "happinessSurveySentAt": rfc3339(created + timedelta(days=1)) if n % 5 == 0 else None,
        "imagesHidden": n % 7 == 0,
        "inaccessibleChildTickets": [n + 200000] if n % 13 == 0 else [],
        "messages": [{"id": m["id"], "type": "messages"} for m in thread],
        "notifyCustomer": n % 2 == 0,
        "readonly": n % 10 == 0,
        "spam_rules": ["sender-domain"] if deleted else [],
        "suggestions": {"articles": [{"id": 1 + n % 8, "type": "articles"}]} if n % 4 else None,
        "timelogs": [{"id": n * 5, "type": "timelogs"}] if n % 6 == 0 else [],
        "updatedBy": user_ref(n + 1),
    }


def render_times(obj: dict[str, t.Any]) -> dict[str, t.Any]:
    """A copy of `obj` with its datetime values as the API writes them."""
    return {k: rfc3339(v) if isinstance(v, datetime) else v for k, v in obj.items()}
