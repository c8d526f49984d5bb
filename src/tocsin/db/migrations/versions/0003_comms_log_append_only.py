"""Make the comms log append-only in the database itself, like the audit trail.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = "comms_log_entries is append-only"


def upgrade() -> None:
    # The hash chain detects rewrites; the triggers stop them from happening by accident.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION tocsin_comms_log_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{MESSAGE}'; END; $$ LANGUAGE plpgsql
        """)
        op.execute("""
            CREATE TRIGGER comms_log_entries_append_only
            BEFORE UPDATE OR DELETE ON comms_log_entries
            FOR EACH ROW EXECUTE FUNCTION tocsin_comms_log_append_only()
        """)
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER comms_log_entries_no_{verb.lower()}
                BEFORE {verb} ON comms_log_entries
                BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END
            """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER comms_log_entries_append_only ON comms_log_entries")
        op.execute("DROP FUNCTION tocsin_comms_log_append_only()")
    else:
        op.execute("DROP TRIGGER comms_log_entries_no_update")
        op.execute("DROP TRIGGER comms_log_entries_no_delete")
