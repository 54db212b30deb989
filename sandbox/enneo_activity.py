"""Enneo's messages and worklog, consistent with the tickets (sandbox/enneo.py).

Docs: https://docs.enneo.ai/de/api-reference/export/export-reporting-messages and
.../export-reporting-worklog; https://docs.enneo.ai/en/analytics ("a message is the
original message of a ticket as well as replies from customers and/or agents including
internal notes"; edits are a separate table). provider-notes.md section 5.

Each ticket carries its message plan, `[(moment, direction), ...]`: first the customer's
inbound message at the ticket's createdAt, then agent replies (out), internal notes and
customer follow-ups within the ticket's life. The reporting_tickets counts
(incoming/outgoing/internalMessages), lastMessageAt and lastCustomerMessageAt are read
from that plan, so they always equal the message rows. Message and worklog rows are
built from the plans only when an activity export (or the truth) is first asked for:
a 200k-ticket benchmark of the ticket streams does not pay for them.

Worklog rows (one edit each): a writeAction per agent reply (its conversationId), a
statusAction per internal note (set to waiting), sometimes a readAction after the first
message, and a closeAction (autoProcessAction for tickets closed by an AI agent) at
closedAt. Every date lies within [createdAt, closedAt or modifiedAt].
"""

from __future__ import annotations

import json
import random
import typing as t
from datetime import datetime, timedelta

Plan = list[tuple[datetime, str]]
AGENTS = [
    (101, "Jürgen Müller", "juergen.mueller@example.com", "Customer care"),
    (102, "Trần Thị Linh", "linh.tran@example.com", "Billing"),
    (103, "Chloé García", "chloe.garcia@example.com", "Customer care"),
    (104, "Olaf Schmidt", "olaf.schmidt@example.com", "Back office"),
]
ACTIONS = ("closeAction", "readAction", "statusAction", "writeAction", "autoProcessAction")
FIRST_CONVERSATION_ID = 9876
FIRST_WORKLOG_ID = 1


def message_plan(
    rng: random.Random, created: datetime, end: datetime, counts: tuple[int, int, int]
) -> Plan:
    """The messages of one ticket: the inbound original at `created`, the rest in time order.

    The rest lie in [created, end]. `counts` = (incoming, outgoing, internal), incoming >= 1.

    Some agent replies are sent in the same second as the message they answer (an
    auto-acknowledgement), so pages meet equal createdAt values.
    """
    incoming, outgoing, internal = counts
    span = max(int((end - created).total_seconds()), 0)
    later = ["in"] * (incoming - 1) + ["out"] * outgoing + ["internal"] * internal
    rng.shuffle(later)
    moments = sorted(created + timedelta(seconds=rng.randint(0, span)) for _ in later)
    if later and rng.random() < 0.2:
        moments[0] = created  # replied in the same second
    return [(created, "in"), *zip(moments, later, strict=True)]


def counts_of(plan: Plan) -> dict[str, int]:
    """The reporting_tickets message counts of a plan."""
    directions = [direction for _moment, direction in plan]
    return {
        "incomingMessages": directions.count("in"),
        "outgoingMessages": directions.count("out"),
        "internalMessages": directions.count("internal"),
    }


def message_raw(conversation_id: int, ticket: dict[str, t.Any]) -> str | None:
    """The rawData of a message: a JSON string, sometimes missing or the docs' '{...}'."""
    if conversation_id % 10 == 0:
        return None
    if conversation_id % 10 == 1:
        return "{...}"
    return json.dumps(
        {"subject": ticket["subject"], "bodyPlain": f"Nachricht {conversation_id} 🙏"},
        ensure_ascii=False,
    )


def worklog_plan(
    rng: random.Random,
    ticket: dict[str, t.Any],
    messages: list[tuple[int, datetime, str]],
    *,
    closing: bool = True,
) -> list[dict[str, t.Any]]:
    """The edits of one ticket (without ids): compact rows, rendered by `worklog_row`.

    `messages` are the ticket's (conversationId, moment, direction), in time order;
    `closing`: the ticket's close is among these edits (not for a message added later).
    """
    edits: list[dict[str, t.Any]] = []
    for index, (conversation_id, moment, direction) in enumerate(messages):
        if direction == "out":
            edits.append(edit(rng, moment, "writeAction", conversation_id))
        elif direction == "internal":
            edits.append(edit(rng, moment, "statusAction", None))
        elif index == 0 and rng.random() < 0.3:
            edits.append(edit(rng, moment, "readAction", None))
    if closing and ticket["closedAt"] is not None:
        action = "autoProcessAction" if ticket["id"] % 11 == 0 else "closeAction"
        edits.append(edit(rng, ticket["closedAt"], action, None))
    return edits


def edit(
    rng: random.Random, moment: datetime, action: str, conversation_id: int | None
) -> dict[str, t.Any]:
    """One compact worklog row."""
    duration = rng.randint(20, 1800)
    return {
        "date": moment,
        "action": action,
        "conversationId": conversation_id,
        "agent": rng.randrange(len(AGENTS)),
        "duration": duration,
        "durationAfterWork": rng.randint(0, duration // 4),
    }


def worklog_row(
    row: dict[str, t.Any],
    ticket: dict[str, t.Any],
    local: t.Callable[[datetime | None], str | None],
) -> dict[str, t.Any]:
    """A reporting_worklog row as the export writes it (fields: the docs' sample)."""
    user_id, name, email, department = AGENTS[row["agent"]]
    automated = row["action"] == "autoProcessAction"
    pending = row["action"] == "statusAction"
    n = row["userWorklogId"]
    tags = [tag for tag in (ticket["topic"], ticket["subTopic"]) if tag]
    closed = row["closedAt"]
    return {
        "date": local(row["date"]),
        "name": None if automated else name,
        "ticketId": ticket["id"],
        "conversationId": row["conversationId"],
        "userId": None if automated else user_id,
        "action": row["action"],
        "duration": 0 if automated else row["duration"],
        "durationAfterWork": 0 if automated else row["durationAfterWork"],
        "reOpened": 1 if n % 13 == 0 else 0,
        "status": "active",
        "aiAgent": "Dark processing" if automated else None,
        "topic": ticket["topic"],
        "subTopic": ticket["subTopic"],
        "allTags": ", ".join(tags),
        "tags": json.dumps(tags, ensure_ascii=False),
        "channel": ticket["channel"],
        "department": department,
        "teams": json.dumps([department]),
        "email": None if automated else email,
        "rawData": None if n % 7 == 0 else "{...}" if n % 7 == 1 else json.dumps({"worklog": n}),
        "aiAutomationLevel": 5 if automated else n % 5,
        "customerIdentifiedCorrectly": int(n % 4 != 0),
        "tagsIdentifiedCorrectly": int(n % 6 != 0),
        "textAssistanceAccuracy": round(0.5 + (n % 50) / 100, 2) if n % 3 == 0 else None,
        "aiAgentsUsed": json.dumps(["Email Assistant"] if n % 3 == 0 else []),
        "skippedTicket": 0,
        "netSecondsClosedAfterSLA": (
            int((closed - ticket["dueBy"]).total_seconds()) if closed else None
        ),
        "closingDateForSLA": local(closed),
        "statusActionDetail": "waitingOnCustomer" if pending else None,
        "pendingDueBy": local(row["date"] + timedelta(days=3)) if pending else None,
        "pendingSeconds": row["duration"] * 10 if pending else None,
        "netPendingSeconds": row["duration"] * 5 if pending else None,
        "firstPendingAt": local(row["date"]) if pending else None,
        "userWorklogId": n,
        "timesSetToOpen": n % 3,
    }
