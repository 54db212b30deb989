"""Teamwork Desk sandbox: each ticket's messages (threads), and the ticket figures they fix.

A ticket's thread is consistent with its own figures, so that metrics computed from the
messages equal the provider's (provider-notes section 3, Message object):

- the first message is the customer's (threadType "message", createdBy a customer) at the
  ticket's createdAt;
- `responseTimeMins` is the whole minutes from createdAt to the first agent reply (a
  "message" created by a user); null while no agent has replied. A note may come before it
  (internal: it is no response);
- `resolutionTimeMins` is the whole minutes from createdAt to updatedAt for a solved or
  closed ticket (the last change is the solve), null otherwise;
- `messageCount` is the length of the thread (every threadType);
- no message is later than the ticket's updatedAt. The docs do not say whether a new
  message moves the ticket's updatedAt: the stricter reading (it does) is emulated, so a
  message added while a run goes on brings its ticket back to the keyset walk.

Everything derives from the ticket's id and times (no draw from the seeded generator).
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta

from sandbox.teamwork_desk.entities import user_ref

MINUTE = timedelta(minutes=1)
#: ids of messages added after the data set was built (by mutate)
ADDED_IDS_FROM = 900_000_000
#: thread types after the first reply, in turn (eventInfo: a system event on the ticket)
LATER_TYPES = (
    ("message", "customers"),
    ("message", "users"),
    ("note", "users"),
    ("forward", "users"),
    ("eventInfo", "users"),
)
BODIES = {
    "customers": "<p>Any news on this? Thanks.</p>",
    "users": "<p>Thanks for your patience, we are on it.</p>",
    "note": "<p>Internal: checked the account, waiting for billing.</p>",
    "forward": "<p>Forwarding to our billing partner.</p>",
    "eventInfo": "<p>Status changed.</p>",
}


def minutes_between(start: datetime, end: datetime) -> int:
    """Whole minutes from `start` to `end`."""
    return int((end - start) // MINUTE)


def message(
    ticket: dict[str, t.Any],
    message_id: int,
    created: datetime,
    thread_type: str,
    author: str,
) -> dict[str, t.Any]:
    """One message of `ticket`, its other fields derived from its id."""
    n = ticket["id"]
    by_customer = author == "customers"
    agent = ticket["agent"]["id"] if "agent" in ticket else user_ref(n)["id"]
    body = BODIES[thread_type if thread_type != "message" else author]
    return {
        "id": message_id,
        "ticket": {"id": n, "type": "tickets"},
        "threadType": thread_type,
        "state": "active",
        "status": "delayed" if message_id % 17 == 0 and not by_customer else "sent",
        "createdAt": created,
        "updatedAt": created,
        "viewedByCustomerAt": None
        if by_customer or thread_type == "note" or message_id % 2
        else created + timedelta(hours=1),
        "createdBy": {"id": ticket["customer"]["id"], "type": "customers"}
        if by_customer
        else {"id": agent, "type": "users"},
        "updatedBy": None if message_id % 3 else user_ref(message_id),
        "assigningUser": user_ref(message_id) if message_id % 5 == 0 and not by_customer else None,
        "contact": {"id": n, "type": "contacts"} if by_customer else None,
        "message": body,
        "cc": ["billing@partner.example.com"] if thread_type == "forward" else [],
        "bcc": ["audit@example.com"] if message_id % 7 == 0 and not by_customer else [],
        "delayed": message_id % 17 == 0 and not by_customer,
        "editMethod": "html" if message_id % 4 else "plaintext",
        "isPinned": thread_type == "note" and message_id % 2 == 0,
    }


def build_thread(ticket: dict[str, t.Any], count: int, reply_mins: int) -> list[dict[str, t.Any]]:
    """`count` messages for a ticket, fewer when its life is too short for them.

    The customer's comes at createdAt, the first agent reply `reply_mins` later, the rest
    between it and updatedAt.
    """
    n, created, updated = ticket["id"], ticket["createdAt"], ticket["updatedAt"]
    thread = [message(ticket, n * 100, created, "message", "customers")]
    span = minutes_between(created, updated)
    if count < 2 or span < 1:
        return thread
    reply_mins = max(1, min(reply_mins, span))
    if n % 4 == 0 and count >= 3 and reply_mins >= 2:  # an internal note before the reply
        thread.append(message(ticket, n * 100 + 1, created + MINUTE, "note", "users"))
    reply_at = created + reply_mins * MINUTE
    thread.append(message(ticket, n * 100 + len(thread), reply_at, "message", "users"))
    later = count - len(thread)
    step = (updated - reply_at) / (later + 1) if later else timedelta(0)
    for k in range(1, later + 1):
        at = reply_at + step * k
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)
        thread_type, author = LATER_TYPES[(n + k) % len(LATER_TYPES)]
        thread.append(message(ticket, n * 100 + len(thread), at, thread_type, author))
    return thread


def settle(ticket: dict[str, t.Any], thread: list[dict[str, t.Any]], solved: bool) -> None:
    """Set the ticket's figures from its thread and status (see the module doc)."""
    created = ticket["createdAt"]
    replies = [
        m["createdAt"]
        for m in thread
        if m["threadType"] == "message" and m["createdBy"]["type"] == "users"
    ]
    ticket["messageCount"] = len(thread)
    ticket["responseTimeMins"] = minutes_between(created, min(replies)) if replies else None
    ticket["resolutionTimeMins"] = minutes_between(created, ticket["updatedAt"]) if solved else None


__all__ = ["ADDED_IDS_FROM", "build_thread", "message", "minutes_between", "settle"]
