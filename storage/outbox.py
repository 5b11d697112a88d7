"""The outbox: the durable queue every broadcast leaves through, once per idempotency key.

Dispatchers claim due messages for a short lease and renew it while they live (a
heartbeat); a claim whose lease ran out (its process died) is claimed again and counted in
`reclaims`, so possible duplicates are visible.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.messages import Address, AddressKind, Choice, Outbound
from storage.engine import Database, as_datetime
from storage.models import Role

# Provider delivery statuses in the order they happen (Twilio's names; Telegram has none).
STATUS_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
    "read": 5,
}
_RANK_SQL = (
    "(CASE COALESCE(channel_status, '') "
    + " ".join(f"WHEN '{status}' THEN {rank}" for status, rank in STATUS_RANK.items())
    + " ELSE -1 END)"
)
# Persons per INSERT ... SELECT when enqueueing an audience: a million recipients go in as
# many short statements, so webhooks keep getting the write lock in between.
AUDIENCE_CHUNK = 20_000


@dataclass(frozen=True, slots=True)
class Queued:
    key: str
    message: Outbound
    urgent: bool = False
    broadcast_id: int | None = None
    not_before: datetime | None = None
    expires_at: datetime | None = None  # not worth sending after this (a nudge about today)


@dataclass(frozen=True, slots=True)
class BroadcastStatus:
    id: int
    kind: str
    body: str
    total: int
    counts: dict[str, int]  # by outbox status
    reclaims: int  # sends that may have happened twice (a dispatcher died mid-send)

    @property
    def done(self) -> int:
        return sum(self.counts.get(s, 0) for s in ("sent", "delivered", "failed", "cancelled"))


@dataclass(frozen=True, slots=True)
class Waiting:
    count: int
    first_due: datetime | None  # the earliest time one of them may be sent


def _choices(message: Outbound) -> str | None:
    return _choice_json(message.choices)


def _choice_json(choices: Sequence[Choice]) -> str | None:
    if not choices:
        return None
    return json.dumps([{"key": c.key, "label": c.label} for c in choices], ensure_ascii=False)


_INSERT = """
    INSERT INTO outbox (idempotency_key, address_kind, address, body, choices, ask_contact,
                        not_before, created_at, updated_at, urgent, broadcast_id, expires_at)
    VALUES (:key, :kind, :address, :body, :choices, :ask_contact, :not_before, :now, :now,
            :urgent, :broadcast_id, :expires_at)
    ON CONFLICT DO NOTHING
"""


class OutboxRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _row(self, item: Queued, now: datetime) -> dict[str, Any]:
        return {
            "key": item.key,
            "kind": item.message.to.kind.value,
            "address": item.message.to.value,
            "body": item.message.stored_body,  # never a direct reply's private echo
            "choices": _choices(item.message),
            "ask_contact": item.message.ask_contact,
            "not_before": item.not_before or now,
            "now": now,
            "urgent": item.urgent,
            "broadcast_id": item.broadcast_id,
            "expires_at": item.expires_at,
        }

    async def enqueue(
        self,
        key: str,
        message: Outbound,
        now: datetime,
        not_before: datetime | None = None,
        *,
        urgent: bool = False,
        broadcast_id: int | None = None,
    ) -> bool:
        """Queue a message. True if new; False if that key was already queued."""
        item = Queued(key, message, urgent, broadcast_id, not_before)
        inserted = await self.db.write(_INSERT + " RETURNING id", self._row(item, now))
        return bool(inserted)

    async def enqueue_replies(
        self, message_id: int, replies: Sequence[Outbound], now: datetime
    ) -> None:
        """Queue the replies to an inbound message whose sender no longer waits on its
        webhook; keyed by the message, so handling it twice queues them once."""
        for i, reply in enumerate(replies):
            await self.enqueue(f"reply:{message_id}:{i}", reply, now)

    async def enqueue_many(self, items: Iterable[Queued], now: datetime) -> None:
        """Queue many messages in one transaction; keys already queued are skipped."""
        await self.db.executemany(_INSERT, [self._row(item, now) for item in items])

    async def create_broadcast(
        self,
        *,
        kind: str,
        body: str,
        now: datetime,
        org_id: int | None = None,
        role: str | None = None,
        created_by: int | None = None,
        source: str | None = None,
    ) -> int:
        """A new broadcast, or the one already made for `source` (a message handled again
        after a crash must not broadcast twice)."""
        rows = await self.db.write(
            "INSERT INTO broadcasts (kind, org_id, role, body, created_by, created_at, source) "
            "VALUES (:kind, :org, :role, :body, :by, :now, :source) "
            "ON CONFLICT (source) DO NOTHING RETURNING id",
            {
                "kind": kind,
                "org": org_id,
                "role": role,
                "body": body,
                "by": created_by,
                "now": now,
                "source": source,
            },
        )
        if rows:
            return rows[0]["id"]
        return await self.db.fetchval("SELECT id FROM broadcasts WHERE source = :s", {"s": source})

    async def broadcast_to_audience(
        self,
        *,
        kind: str,
        texts: dict[str, str],
        default_language: str,
        now: datetime,
        root_org_id: int | None,
        roles: Sequence[Role],
        source: str | None,
        key_prefix: str | None = None,
        body: str | None = None,
        role: str | None = None,
        created_by: int | None = None,
        include_subtree: bool = True,
        exclude_person: int | None = None,
        urgent: bool = False,
        choices: dict[str, tuple[Choice, ...]] | None = None,
    ) -> tuple[int, int]:
        """A broadcast (the one already made for `source`, if any) queued to an audience, as
        enqueue_audience describes. `key_prefix` defaults to "KIND:BROADCAST_ID"; `body`,
        what the broadcast records, to the text in the default language. Returns the
        broadcast's id and the number of messages it has."""
        broadcast = await self.create_broadcast(
            kind=kind,
            body=body if body is not None else texts[default_language],
            org_id=root_org_id,
            role=role,
            created_by=created_by,
            now=now,
            source=source,
        )
        count = await self.enqueue_audience(
            broadcast_id=broadcast,
            key_prefix=key_prefix or f"{kind}:{broadcast}",
            root_org_id=root_org_id,
            roles=roles,
            texts=texts,
            default_language=default_language,
            now=now,
            urgent=urgent,
            include_subtree=include_subtree,
            exclude_person=exclude_person,
            choices=choices,
        )
        return broadcast, count

    async def enqueue_audience(
        self,
        *,
        broadcast_id: int,
        key_prefix: str,
        root_org_id: int | None,
        roles: Sequence[Role],
        texts: dict[str, str],
        default_language: str,
        now: datetime,
        urgent: bool = False,
        include_subtree: bool = True,
        exclude_person: int | None = None,
        choices: dict[str, tuple[Choice, ...]] | None = None,
    ) -> int:
        """Queue one message per person holding one of `roles` in the subtree of
        `root_org_id` (everywhere if None), to their preferred usable address (a chat,
        Telegram or WeChat, before SMS; opted-out and invalid addresses skipped), in their
        language. Runs in the database, in chunks of persons; memory does not grow with the
        audience. Returns the number of messages the broadcast now has."""
        role_params = {f"role{i}": role.value for i, role in enumerate(roles)}
        role_list = ", ".join(f":{name}" for name in role_params)
        if root_org_id is None:
            subtree = "WITH sub(id) AS (SELECT id FROM organisations)"
        elif include_subtree:
            subtree = """
                WITH RECURSIVE sub(id) AS (
                    SELECT id FROM organisations WHERE id = :root
                    UNION
                    SELECT o.id FROM organisations o JOIN sub ON o.parent_id = sub.id
                )
            """
        else:
            subtree = "WITH sub(id) AS (SELECT id FROM organisations WHERE id = :root)"
        who = f"""EXISTS (SELECT 1 FROM roles r
                          WHERE r.person_id = a.person_id AND r.role IN ({role_list})
                            AND r.org_id IN (SELECT id FROM sub))"""
        params: dict[str, Any] = {**role_params}
        if root_org_id is not None:
            params["root"] = root_org_id
        return await self.enqueue_people(
            broadcast_id=broadcast_id,
            key_prefix=key_prefix,
            who=who,
            who_params=params,
            preamble=subtree,
            texts=texts,
            default_language=default_language,
            now=now,
            urgent=urgent,
            exclude_person=exclude_person,
            choices=choices,
        )

    async def enqueue_people(
        self,
        *,
        broadcast_id: int,
        key_prefix: str,
        who: str,
        who_params: dict[str, Any],
        texts: dict[str, str],
        default_language: str,
        now: datetime,
        preamble: str = "",
        urgent: bool = False,
        exclude_person: int | None = None,
        choices: dict[str, tuple[Choice, ...]] | None = None,
    ) -> int:
        """Queue one message per person for whom the SQL condition `who` (on
        `a.person_id`, after an optional WITH `preamble`) holds; see enqueue_audience."""
        statement = f"""
            {preamble}
            INSERT INTO outbox (idempotency_key, address_kind, address, body, choices,
                                not_before, created_at, updated_at, urgent, broadcast_id)
            SELECT :prefix || ':person:' || chosen.person_id, chosen.kind, chosen.value,
                   CASE WHEN chosen.language = 'en' THEN :body_en ELSE :body_zh END,
                   CASE WHEN chosen.language = 'en' THEN :choices_en ELSE :choices_zh END,
                   :now, :now, :now, :urgent, :broadcast_id
            FROM (
                SELECT a.person_id, a.kind, a.value,
                       COALESCE(p.language, :default_language) AS language,
                       ROW_NUMBER() OVER (
                           PARTITION BY a.person_id
                           ORDER BY CASE a.kind WHEN 'sms' THEN 1 ELSE 0 END, a.id
                       ) AS preference
                FROM addresses a JOIN people p ON p.id = a.person_id
                WHERE a.person_id > :after AND a.person_id <= :upto AND a.person_id <> :exclude
                  AND a.opted_out_at IS NULL AND a.invalid_at IS NULL
                  AND {who}
            ) chosen
            WHERE chosen.preference = 1
            ON CONFLICT DO NOTHING
        """
        last = await self.db.fetchval("SELECT MAX(id) AS m FROM people") or 0
        choices = choices or {}
        params: dict[str, Any] = {
            **who_params,
            "prefix": key_prefix,
            "body_zh": texts["zh-CN"],
            "body_en": texts["en"],
            "choices_zh": _choice_json(choices.get("zh-CN", ())),
            "choices_en": _choice_json(choices.get("en", ())),
            "default_language": default_language,
            "now": now,
            "urgent": urgent,
            "broadcast_id": broadcast_id,
            "exclude": exclude_person if exclude_person is not None else -1,
        }
        for after in range(0, last, AUDIENCE_CHUNK):
            await self.db.write(
                statement, {**params, "after": after, "upto": after + AUDIENCE_CHUNK}
            )
        rows = await self.db.write(
            "UPDATE broadcasts SET total = (SELECT COUNT(*) FROM outbox WHERE broadcast_id = :b)"
            " WHERE id = :b RETURNING total",
            {"b": broadcast_id},
        )
        return rows[0]["total"]

    async def claim(
        self,
        *,
        holder: str,
        now: datetime,
        lease_until: datetime,
        limit: int,
        kinds: Sequence[AddressKind] | None = None,
    ) -> list[dict[str, Any]]:
        """Take up to `limit` due messages for sending, oldest first: pending ones whose
        time has come, and ones whose claim expired (their dispatcher died mid-send).
        Only messages to `kinds` (every kind if None): a channel this process cannot send
        on leaves its messages waiting, and they do not hold up the others."""
        lock = " FOR UPDATE SKIP LOCKED" if self.db.dialect == "postgresql" else ""
        kind_params = {f"kind{i}": kind.value for i, kind in enumerate(kinds or ())}
        only = (
            f" AND address_kind IN ({', '.join(':' + name for name in kind_params)})"
            if kinds is not None
            else ""
        )
        if kinds is not None and not kinds:
            return []
        rows = await self.db.write(
            f"""
            UPDATE outbox SET status = 'sending', claimed_by = :holder,
                claimed_until = :lease_until,
                reclaims = reclaims + CASE WHEN status = 'sending' THEN 1 ELSE 0 END
            WHERE id IN (
                -- Two separately limited parts: with one condition joined by OR, SQLite reads and
                -- sorts the whole backlog (125 ms a claim at a million pending); each part
                -- alone walks ix_outbox_due in order and stops at the limit.
                SELECT id FROM (
                    SELECT id, not_before FROM (
                        SELECT id, not_before FROM outbox
                        WHERE status = 'pending' AND not_before <= :now{only}
                        ORDER BY not_before, id LIMIT :limit{lock}
                    ) due
                    UNION ALL
                    SELECT id, not_before FROM (
                        SELECT id, not_before FROM outbox
                        WHERE status = 'sending' AND claimed_until < :now{only}
                        ORDER BY not_before, id LIMIT :limit{lock}
                    ) stale
                ) candidates
                ORDER BY not_before, id
                LIMIT :limit
            )
            RETURNING id, address_kind, address, body, choices, ask_contact, attempts, urgent,
                      expires_at, idempotency_key
            """,
            {
                "holder": holder,
                "now": now,
                "lease_until": lease_until,
                "limit": limit,
                **kind_params,
            },
        )
        return sorted((dict(r) for r in rows), key=lambda r: r["id"])

    async def cancel(self, outbox_id: int, reason: str, now: datetime) -> None:
        await self.db.write(
            "UPDATE outbox SET status = 'cancelled', last_error = :reason, claimed_by = NULL, "
            "claimed_until = NULL, updated_at = :now WHERE id = :id",
            {"id": outbox_id, "reason": reason, "now": now},
        )

    async def defer(self, outbox_id: int, until: datetime, now: datetime) -> None:
        """Put a claimed message back for later without counting an attempt (quiet hours)."""
        await self.db.write(
            "UPDATE outbox SET status = 'pending', not_before = :until, claimed_by = NULL, "
            "claimed_until = NULL, updated_at = :now WHERE id = :id",
            {"id": outbox_id, "until": until, "now": now},
        )

    async def unclaim(self, outbox_id: int, now: datetime) -> None:
        """Give one claimed message back as it was: no attempt counted, its time unchanged."""
        await self.db.write(
            "UPDATE outbox SET status = 'pending', claimed_by = NULL, claimed_until = NULL, "
            "updated_at = :now WHERE id = :id AND status = 'sending'",
            {"id": outbox_id, "now": now},
        )

    async def renew(self, holder: str, until: datetime) -> int:
        """Extend every claim `holder` still has to at least `until` (its heartbeat): the
        number of messages it holds. A claim already taken back by another is not ours."""
        later = "MAX" if self.db.dialect == "sqlite" else "GREATEST"
        rows = await self.db.write(
            f"UPDATE outbox SET claimed_until = {later}(claimed_until, :until) "
            "WHERE status = 'sending' AND claimed_by = :holder RETURNING id",
            {"holder": holder, "until": until},
        )
        return len(rows)

    async def release(self, holder: str, now: datetime) -> None:
        """Give back every claim of a stopping dispatcher that was not sent."""
        await self.db.write(
            "UPDATE outbox SET status = 'pending', claimed_by = NULL, claimed_until = NULL, "
            "updated_at = :now WHERE status = 'sending' AND claimed_by = :holder",
            {"holder": holder, "now": now},
        )

    async def get(self, outbox_id: int) -> dict[str, Any] | None:
        row = await self.db.fetchrow("SELECT * FROM outbox WHERE id = :id", {"id": outbox_id})
        return dict(row) if row else None

    async def mark_sent(
        self,
        outbox_id: int,
        *,
        provider_id: str,
        channel_status: str,
        segments: int | None,
        encoding: str | None,
        now: datetime,
    ) -> None:
        await self.db.write(
            """
            UPDATE outbox SET status = 'sent', provider_id = :provider_id,
                channel_status = :channel_status, segments = :segments, encoding = :encoding,
                attempts = attempts + 1, last_error = NULL, claimed_by = NULL,
                claimed_until = NULL, updated_at = :now
            WHERE id = :id
            """,
            {
                "id": outbox_id,
                "provider_id": provider_id,
                "channel_status": channel_status,
                "segments": segments,
                "encoding": encoding,
                "now": now,
            },
        )

    async def mark_failed(
        self,
        outbox_id: int,
        *,
        code: str | None,
        error: str,
        retry_at: datetime | None,
        now: datetime,
        count_attempt: bool = True,
    ) -> None:
        """A failed attempt: back to pending until retry_at, or failed for good if None."""
        await self.db.write(
            """
            UPDATE outbox SET status = :status, error_code = :code, last_error = :error,
                attempts = attempts + :attempt, not_before = COALESCE(:retry_at, not_before),
                claimed_by = NULL, claimed_until = NULL, updated_at = :now
            WHERE id = :id
            """,
            {
                "id": outbox_id,
                "status": "pending" if retry_at else "failed",
                "code": code,
                "error": error,
                "retry_at": retry_at,
                "now": now,
                "attempt": 1 if count_attempt else 0,
            },
        )

    async def set_body(self, outbox_id: int, body: str, now: datetime) -> None:
        """What is left to send of a message delivered in part."""
        await self.db.write(
            "UPDATE outbox SET body = :body, updated_at = :now WHERE id = :id",
            {"id": outbox_id, "body": body, "now": now},
        )

    async def update_delivery(
        self, provider_id: str, channel_status: str, error_code: str | None, now: datetime
    ) -> Address | None:
        """Apply a delivery status callback. Callbacks arrive late, twice or out of order:
        a status only replaces one that comes before it. The recipient if the message moved
        on, None if the callback was late, repeated or for a message we do not know."""
        rank = STATUS_RANK.get(channel_status)
        if rank is None:
            return None
        final = {
            "delivered": "delivered",
            "read": "delivered",
            "undelivered": "failed",
            "failed": "failed",
        }.get(channel_status)
        changed = await self.db.write(
            f"""
            UPDATE outbox SET channel_status = :channel_status,
                error_code = COALESCE(:error_code, error_code),
                status = COALESCE(:final, status), updated_at = :now
            WHERE provider_id = :provider_id AND {_RANK_SQL} < :rank
            RETURNING address_kind, address
            """,
            {
                "provider_id": provider_id,
                "channel_status": channel_status,
                "error_code": error_code,
                "final": final,
                "rank": rank,
                "now": now,
            },
        )
        return (
            Address(AddressKind(changed[0]["address_kind"]), changed[0]["address"])
            if changed
            else None
        )

    async def broadcast_status(self, broadcast_id: int) -> BroadcastStatus | None:
        head = await self.db.fetchrow(
            "SELECT id, kind, body, total FROM broadcasts WHERE id = :b", {"b": broadcast_id}
        )
        if head is None:
            return None
        # Months past retention are no longer rows but counts (storage/retention.py).
        rows = await self.db.fetch(
            "SELECT status, COUNT(*) AS n, SUM(reclaims) AS r FROM outbox "
            "WHERE broadcast_id = :b GROUP BY status "
            "UNION ALL SELECT status, SUM(messages) AS n, 0 AS r FROM message_counts "
            "WHERE broadcast_id = :b GROUP BY status",
            {"b": broadcast_id},
        )
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["status"]] = counts.get(r["status"], 0) + int(r["n"])
        return BroadcastStatus(
            id=head["id"],
            kind=head["kind"],
            body=head["body"],
            total=head["total"],
            counts=counts,
            reclaims=sum(int(r["r"] or 0) for r in rows),
        )

    async def waiting_by_kind(
        self, *, broadcast_id: int | None = None, since: datetime | None = None
    ) -> dict[str, Waiting]:
        """Messages not yet sent (pending or being sent), per address kind: of one broadcast,
        or queued since a time, or all."""
        where = ["status IN ('pending', 'sending')"]
        params: dict[str, Any] = {}
        if broadcast_id is not None:
            where.append("broadcast_id = :b")
            params["b"] = broadcast_id
        if since is not None:
            where.append("created_at >= :since")
            params["since"] = since
        rows = await self.db.fetch(
            "SELECT address_kind, COUNT(*) AS n, MIN(not_before) AS first FROM outbox "
            f"WHERE {' AND '.join(where)} GROUP BY address_kind ORDER BY address_kind",
            params,
        )
        return {r["address_kind"]: Waiting(int(r["n"]), as_datetime(r["first"])) for r in rows}

    async def pending_count(self) -> int:
        return await self.db.fetchval(
            "SELECT COUNT(*) AS n FROM outbox WHERE status IN ('pending', 'sending')"
        )
