"""One-time sign-in codes for the console: issued, sent and checked in SQL.

A code lives `ttl`, is used at most once, and burns after `max_tries` guesses. At most one
code per number is live: a new one supersedes the last. The caller passes keyed hashes
(HMAC under the deployment's secret) of the number and of the code, never either in clear.

`issue` runs the same statements for every number: for a stranger's (person None) the
code row is written as for anyone and the INSERT into the outbox selects no address. The
answer to "send me a code" thus costs the same whether or not the number is on the roster.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.engine import Database, in_list

# Rows ended or expired this long ago are deleted as new codes are issued.
_KEEP = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Issued:
    code_id: int
    outbox_id: int | None  # None: nothing was sent (a stranger, or no usable address)


@dataclass(frozen=True, slots=True)
class Checked:
    """A guess at a code: `person_id` is set when it was right (and the code is now used);
    `burned` when it was the last wrong guess the code allowed."""

    person_id: int | None
    burned: bool = False
    burned_for: int | None = None  # whose code burned (None: a stranger's)


class ConsoleCodeRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def issue(
        self,
        *,
        phone_key: str,
        code_hash: str,
        person_id: int | None,
        bodies: dict[str, str],
        default_language: str,
        kinds: Sequence[str],
        now: datetime,
        ttl: timedelta,
        value: str | None = None,
    ) -> Issued:
        """A new code for the number, the previous one superseded, and the message that
        carries it queued (urgent, worthless after the code expires) to the person's
        preferred usable address among `kinds` (Telegram before SMS, as broadcasts choose),
        in their language (`bodies` by language); to the address `value` only, if given
        (binding a chat proves the holder of that very number agrees)."""
        expires = now + ttl
        kind_list, kind_params = in_list("kind", kinds)
        only = " AND a.value = :value" if value is not None else ""
        async with self.db.transaction() as tx:
            await tx.execute(
                "DELETE FROM console_codes WHERE expires_at < :old",
                {"old": now - _KEEP},
            )
            await tx.execute(
                "UPDATE console_codes SET ended_at = :now, outcome = 'superseded' "
                "WHERE phone_key = :phone AND ended_at IS NULL",
                {"now": now, "phone": phone_key},
            )
            rows = await tx.fetch(
                """
                INSERT INTO console_codes (phone_key, person_id, code_hash, created_at,
                                           expires_at, tries)
                VALUES (:phone, :person, :code, :now, :expires, 0)
                RETURNING id
                """,
                {
                    "phone": phone_key,
                    "person": person_id,
                    "code": code_hash,
                    "now": now,
                    "expires": expires,
                },
            )
            code_id = int(rows[0]["id"])
            sent = await tx.fetch(
                f"""
                INSERT INTO outbox (idempotency_key, address_kind, address, body, not_before,
                                    created_at, updated_at, urgent, expires_at)
                SELECT :key, a.kind, a.value,
                       CASE WHEN COALESCE(p.language, :default_language) = 'en'
                            THEN :body_en ELSE :body_zh END,
                       :now, :now, :now, :urgent, :expires
                FROM addresses a JOIN people p ON p.id = a.person_id
                WHERE a.person_id = :person AND a.kind IN ({kind_list})
                  AND a.opted_out_at IS NULL AND a.invalid_at IS NULL{only}
                ORDER BY CASE a.kind WHEN 'telegram' THEN 0 ELSE 1 END, a.id
                LIMIT 1
                RETURNING id
                """,
                {
                    **kind_params,
                    "key": f"console-code:{code_id}",
                    "default_language": default_language,
                    "body_en": bodies["en"],
                    "body_zh": bodies["zh-CN"],
                    "now": now,
                    "urgent": True,
                    "expires": expires,
                    "person": person_id if person_id is not None else -1,
                    **({"value": value} if value is not None else {}),
                },
            )
        return Issued(code_id, int(sent[0]["id"]) if sent else None)

    async def check(
        self, *, phone_key: str, code_hash: str, now: datetime, max_tries: int
    ) -> Checked:
        """One guess at the number's live code. Each guess is counted before it is
        compared, in one statement, so concurrent guesses cannot exceed `max_tries`; the
        right code is taken by one conditional UPDATE, so it signs in once."""
        async with self.db.transaction() as tx:
            rows = await tx.fetch(
                """
                UPDATE console_codes SET tries = tries + 1
                WHERE phone_key = :phone AND ended_at IS NULL AND expires_at > :now
                  AND tries < :max
                RETURNING id, person_id, code_hash, tries
                """,
                {"phone": phone_key, "now": now, "max": max_tries},
            )
            if not rows:
                return Checked(None)
            for row in rows:  # one, unless two codes were issued at the same instant
                right = hmac.compare_digest(str(row["code_hash"]), code_hash)
                if right and row["person_id"] is not None:
                    used = await tx.fetch(
                        "UPDATE console_codes SET ended_at = :now, outcome = 'used' "
                        "WHERE id = :id AND ended_at IS NULL RETURNING person_id",
                        {"now": now, "id": row["id"]},
                    )
                    if used:
                        return Checked(int(used[0]["person_id"]))
            burned = [row for row in rows if row["tries"] >= max_tries]
            for row in burned:
                await tx.execute(
                    "UPDATE console_codes SET ended_at = :now, outcome = 'burned' "
                    "WHERE id = :id AND ended_at IS NULL",
                    {"now": now, "id": row["id"]},
                )
            if burned:
                return Checked(None, burned=True, burned_for=burned[0]["person_id"])
            return Checked(None)
