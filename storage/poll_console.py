"""The polls the console lists for one organisation."""

from __future__ import annotations

from storage.engine import Database


async def poll_ids_for_org(db: Database, org_id: int, limit: int = 30) -> list[int]:
    """The organisation's polls, newest first, drafts and cancelled ones left out."""
    rows = await db.fetch(
        "SELECT id FROM polls WHERE org_id = :org AND status NOT IN ('draft', 'cancelled') "
        "ORDER BY id DESC LIMIT :limit",
        {"org": org_id, "limit": limit},
    )
    return [int(r["id"]) for r in rows]
