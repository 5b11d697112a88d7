"""Who a broadcast would reach, per channel, before it is queued: the same choice of
address as OutboxRepository.enqueue_audience (a chat, Telegram or WeChat, before SMS;
opted-out and invalid addresses skipped), counted, so that a sender sees the cost before
saying 确认. bot/reach.py says the result the same way at every door."""

from __future__ import annotations

from collections.abc import Sequence

from storage.engine import Executor
from storage.models import Role


async def reach(
    db: Executor,
    *,
    root_org_id: int,
    roles: Sequence[Role],
    include_subtree: bool,
    exclude_person: int | None = None,
) -> dict[str, int]:
    """People holding one of `roles` in the organisation (and below it, with
    `include_subtree`), by the kind of address a broadcast would use."""
    role_params = {f"role{i}": role.value for i, role in enumerate(roles)}
    role_list = ", ".join(f":{name}" for name in role_params)
    below = "UNION SELECT o.id FROM organisations o JOIN sub ON o.parent_id = sub.id"
    rows = await db.fetch(
        f"""
        WITH RECURSIVE sub(id) AS (
            SELECT id FROM organisations WHERE id = :root
            {below if include_subtree else ""}
        )
        SELECT chosen.kind, COUNT(*) AS n FROM (
            SELECT a.kind, ROW_NUMBER() OVER (
                       PARTITION BY a.person_id
                       ORDER BY CASE a.kind WHEN 'sms' THEN 1 ELSE 0 END, a.id
                   ) AS preference
            FROM addresses a
            WHERE a.opted_out_at IS NULL AND a.invalid_at IS NULL AND a.person_id <> :exclude
              AND EXISTS (SELECT 1 FROM roles r
                          WHERE r.person_id = a.person_id AND r.role IN ({role_list})
                            AND r.org_id IN (SELECT id FROM sub))
        ) chosen
        WHERE chosen.preference = 1
        GROUP BY chosen.kind
        """,
        {"root": root_org_id, "exclude": exclude_person or -1, **role_params},
    )
    return {row["kind"]: int(row["n"]) for row in rows}
