"""The sandbox's emulation of Orbit Desk (tests/sixth_provider/provider.py)."""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta, timezone

from sandbox.server import ProviderAPI, Request, Response, json_response

TOKEN = "sandbox-orbit-token-0123"
MAX_LIMIT = 50


class OrbitAPI(ProviderAPI):
    """GET /api/tickets: offset/limit over tickets ordered by id, filtered by update time."""

    key = "orbit"

    def __init__(self, seed: int, size: int) -> None:
        super().__init__(seed, size)
        start = datetime(2024, 1, 1, tzinfo=timezone.utc)
        self.tickets = [
            {
                "id": n,
                "subject": f"ticket {n}",
                "status": self.rng.choice(["open", "closed"]),
                "createdAt": _z(start + timedelta(hours=n)),
                "updatedAt": _z(start + timedelta(hours=n, minutes=self.rng.randint(0, 600))),
            }
            for n in range(1, size + 1)
        ]

    def routes(self) -> dict[tuple[str, str], t.Callable[[Request], Response]]:
        return {("GET", "/api/tickets"): self.list_tickets}

    def list_tickets(self, request: Request) -> Response:
        if request.header("authorization") != f"Bearer {TOKEN}":
            return json_response({"error": "unauthorized"}, 401)
        since = request.arg("updated_since") or ""
        offset, limit = int(request.arg("offset") or 0), int(request.arg("limit") or 20)
        if not 1 <= limit <= MAX_LIMIT:
            return json_response({"error": f"limit must be 1..{MAX_LIMIT}"}, 400)
        matching = [r for r in self.tickets if r["updatedAt"] >= since.replace("+00:00", "Z")]
        return json_response({"tickets": matching[offset : offset + limit], "total": len(matching)})

    def truth(self) -> dict[str, dict[str, t.Any]]:
        ids = [r["id"] for r in self.tickets]
        return {"orbit_tickets": {"count": len(ids), "ids": ids}}


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def tap_settings(url: str) -> dict[str, t.Any]:
    """The tap's settings block for this emulator."""
    return {"api_token": TOKEN, "api_url": url}
