"""Data that grows: the message log and the outbox partitioned by month on PostgreSQL, and
the counts that retention keeps of the rows it removes (both engines).

On PostgreSQL each table becomes partitioned by id range, a month per partition (see
storage/partitions.py for why the id and not a date): the existing table is attached whole
as the `_legacy` partition (no copy), this month and the next are created, and a
DEFAULT partition catches a month the scheduler did not create in time. The keys that were
unique columns move to `inbound_keys` and `outbox_keys`, kept by a trigger. The foreign keys
of deeds and public messages to the message log go: a deed is a campaign record and is kept
when the message that reported it is pruned (retention clears the link).

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

from storage import partitions

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Indexes each table has today, by name: recreated on the partitioned table.
INDEXES = {
    "inbound_messages": {
        "ix_inbound_status": "status",
        "ix_inbound_person_time": "person_id, received_at",
        "ix_inbound_sender_time": "sender_kind, sender, received_at",
        "ix_inbound_provider": "channel, provider_id",  # was the unique constraint
    },
    "outbox": {
        "ix_outbox_due": "status, not_before",
        "ix_outbox_provider_id": "provider_id",
        "ix_outbox_broadcast": "broadcast_id, status",
        "ix_outbox_key": "idempotency_key",  # was the unique constraint
    },
}
FOREIGN_KEYS = {"inbound_messages": ["person_id REFERENCES people(id)"], "outbox": []}


def upgrade() -> None:
    # What retention removed, counted per month (readers sum: a month may be pruned in parts).
    op.create_table(
        "message_counts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("month", sa.Date, nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),  # in, out
        sa.Column("channel", sa.String(16), nullable=False),  # channel in, address kind out
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("handler", sa.String(32), nullable=True),  # in
        sa.Column("broadcast_id", Id, nullable=True),  # out
        sa.Column("messages", sa.BigInteger, nullable=False),
        sa.Column("segments", sa.BigInteger, nullable=True),  # out: what the SMS cost
    )
    op.create_index("ix_message_counts_month", "message_counts", ["month"])
    op.create_index("ix_message_counts_broadcast", "message_counts", ["broadcast_id"])
    if op.get_bind().dialect.name != "postgresql":
        return
    bind = op.get_bind()
    now = bind.execute(sa.text("SELECT now() AS now")).scalar_one()
    month = partitions.month_of(now)
    op.execute(partitions.MONTH_ID_SQL)
    for fk in ("deeds_inbound_id_fkey", "public_messages_inbound_id_fkey"):
        table = fk.split("_inbound_id_fkey")[0]
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {fk}")
    for spec in partitions.TABLES:
        _partition(spec, month)


def _partition(spec: partitions.Partitioned, month) -> None:  # type: ignore[no-untyped-def]
    table, legacy = spec.table, f"{spec.table}_legacy"
    seq = f"{table}_id_seq"
    op.execute(f"ALTER TABLE {table} RENAME TO {legacy}")
    op.execute(f"ALTER TABLE {legacy} RENAME CONSTRAINT {table}_pkey TO {legacy}_pkey")
    for name in INDEXES[table]:
        op.execute(f"ALTER INDEX IF EXISTS {name} RENAME TO {name}_legacy")
    op.execute(
        f"CREATE TABLE {table} (LIKE {legacy} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
        "PARTITION BY RANGE (id)"
    )
    op.execute(f"ALTER TABLE {table} ALTER COLUMN id SET DEFAULT month_id(nextval('{seq}'))")
    op.execute(f"ALTER SEQUENCE {seq} OWNED BY {table}.id")  # survives the legacy's drop
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id)")
    # Ids made by month_id already (partitioned before, downgraded, upgraded again) stay in
    # the legacy partition too: months begin after the last of them.
    top = int(
        op.get_bind().execute(sa.text(f"SELECT COALESCE(MAX(id), 0) FROM {legacy}")).scalar_one()
    )
    if top >= partitions.first_id(month):
        month = partitions.add_months(partitions.month_of_id(top), 1)
    low = partitions.first_id(month)
    op.execute(
        f"ALTER TABLE {table} ATTACH PARTITION {legacy} FOR VALUES FROM (MINVALUE) TO ({low})"
    )
    for name, columns in INDEXES[table].items():
        op.execute(f"CREATE INDEX {name} ON {table} ({columns})")
    for fk in FOREIGN_KEYS[table]:
        column, _, target = fk.partition(" REFERENCES ")
        op.execute(f"ALTER TABLE {table} ADD FOREIGN KEY ({column}) REFERENCES {target}")
    for step in range(2):  # this month and the next; the scheduler keeps one ahead
        start = partitions.add_months(month, step)
        high = partitions.first_id(partitions.add_months(start, 1))
        op.execute(
            f"CREATE TABLE {partitions.partition_name(table, start)} PARTITION OF {table} "
            f"FOR VALUES FROM ({partitions.first_id(start)}) TO ({high})"
        )
    op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
    key_columns = ", ".join(spec.key_columns)
    column_types = {"channel": "varchar(16)", "provider_id": "varchar(128)"}
    column_types["idempotency_key"] = "varchar(200)"
    op.execute(
        f"CREATE TABLE {spec.key_table} ("
        + ", ".join(f"{c} {column_types[c]} NOT NULL" for c in spec.key_columns)
        + f", id bigint NOT NULL, PRIMARY KEY ({key_columns}))"
    )
    op.execute(f"CREATE INDEX ix_{spec.key_table}_id ON {spec.key_table} (id)")
    op.execute(
        f"INSERT INTO {spec.key_table} ({key_columns}, id) SELECT {key_columns}, id FROM {legacy}"
    )
    for statement in partitions.key_trigger_sql(spec):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for spec in partitions.TABLES:
            _unpartition(spec)
        op.execute("DROP FUNCTION month_id(bigint)")
        for table in ("deeds", "public_messages"):
            op.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT {table}_inbound_id_fkey "
                "FOREIGN KEY (inbound_id) REFERENCES inbound_messages(id) NOT VALID"
            )
    op.drop_index("ix_message_counts_broadcast", "message_counts")
    op.drop_index("ix_message_counts_month", "message_counts")
    op.drop_table("message_counts")


def _unpartition(spec: partitions.Partitioned) -> None:
    """Back to one plain table (a copy: rows keep their ids)."""
    table, plain = spec.table, f"{spec.table}_plain"
    seq = f"{table}_id_seq"
    op.execute(f"CREATE TABLE {plain} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    op.execute(f"INSERT INTO {plain} SELECT * FROM {table}")
    op.execute(f"ALTER SEQUENCE {seq} OWNED BY NONE")
    op.execute(f"DROP TABLE {table} CASCADE")
    op.execute(f"DROP TABLE {spec.key_table}")
    op.execute(f"DROP FUNCTION {table}_key()")
    op.execute(f"ALTER TABLE {plain} RENAME TO {table}")
    op.execute(f"ALTER TABLE {table} ALTER COLUMN id SET DEFAULT nextval('{seq}')")
    op.execute(f"ALTER SEQUENCE {seq} OWNED BY {table}.id")
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id)")
    unique = (
        "uq_inbound_channel_provider"
        if table == "inbound_messages"
        else f"{table}_idempotency_key_key"
    )
    op.execute(
        f"ALTER TABLE {table} ADD CONSTRAINT {unique} UNIQUE ({', '.join(spec.key_columns)})"
    )
    for name, columns in INDEXES[table].items():
        if name not in ("ix_inbound_provider", "ix_outbox_key"):
            op.execute(f"CREATE INDEX {name} ON {table} ({columns})")
    for fk in FOREIGN_KEYS[table]:
        column, _, target = fk.partition(" REFERENCES ")
        op.execute(f"ALTER TABLE {table} ADD FOREIGN KEY ({column}) REFERENCES {target}")
