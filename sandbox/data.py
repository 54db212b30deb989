"""Seeded fake helpdesk data: people, subjects and times that exercise encodings and zones."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

FIRST_NAMES = [
    "Anna",
    "Bảo",
    "Chloé",
    "Dương",
    "Émile",
    "Jürgen",
    "Linh",
    "María",
    "Olaf",
    "Quỳnh",
    "Sørina",
    "Tomás",
    "Zoë",
    "Nguyễn Văn",
    "Ødegaard",
    "Priya",
]
LAST_NAMES = [
    "Müller",
    "Trần",
    "García",
    "Lê",
    "O'Brien",
    "Nguyễn",
    "Schmidt",
    "Phạm",
    "Kowalski",
    "Đặng",
    "Smith",
    "Rossi",
]
SUBJECTS = [
    "Cannot log in",
    "Refund for order #{n}",
    "Hóa đơn tháng {n} bị sai",
    "Lieferung verspätet",
    "Payment reminder",
    "App crashes on start 😡",
    'Question about "premium" plan',
    "Tab\tinside subject",
    "Thanks! 🙏",
    "Đổi mật khẩu",
    "Zählerstand übermitteln",
    "Multi-line\nsubject line",
    'Comma, semicolon; and quote " mix',
]
BODIES = [
    "Hello,\nI have a problem with my account.\nRegards",
    "Xin chào, tôi cần hỗ trợ về đơn hàng của mình. Cảm ơn! 🎉",
    "Guten Tag,\n\nbitte prüfen Sie meine Rechnung.\tDanke.",
    'She said "it works" but it does not.',
    "Short.",
]
DATA_START = datetime(2024, 1, 1, tzinfo=timezone.utc)
DATA_END = datetime(2024, 12, 31, 23, 59, 59, tzinfo=timezone.utc)


def person(rng: random.Random) -> tuple[str, str]:
    """A (name, email) pair; names carry diacritics, emails stay ASCII."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    handle = f"{rng.choice(['anna', 'bao', 'chloe', 'duong', 'linh', 'maria', 'olaf', 'zoe'])}"
    return f"{first} {last}", f"{handle}.{rng.randrange(10_000)}@example.com"


def subject(rng: random.Random) -> str:
    """A ticket subject (some with tabs, newlines, quotes, emoji, Vietnamese)."""
    return rng.choice(SUBJECTS).format(n=rng.randrange(1, 13))


def body(rng: random.Random) -> str:
    """A ticket description."""
    return rng.choice(BODIES)


def moment_between(
    rng: random.Random,
    start: datetime = DATA_START,
    end: datetime = DATA_END,
    *,
    resolution: timedelta = timedelta(seconds=1),
) -> datetime:
    """A random UTC moment in [start, end], truncated to `resolution`."""
    span = int((end - start) / resolution)
    return start + resolution * rng.randrange(max(span, 1))


def utc_now(resolution: timedelta = timedelta(seconds=1)) -> datetime:
    """Now (UTC), truncated to `resolution` like the provider's storage would."""
    now = datetime.now(timezone.utc)
    micro = int(resolution / timedelta(microseconds=1))
    return now.replace(microsecond=(now.microsecond // micro) * micro if micro < 10**6 else 0)
