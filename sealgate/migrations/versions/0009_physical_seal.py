"""physical_seal: seal machines and their slots, authorisations, the events machines sign, alarms

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 05:08:25.631080
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "machines",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("latitude_e7", sa.Integer(), nullable=False),
        sa.Column("longitude_e7", sa.Integer(), nullable=False),
        sa.Column("radius_m", sa.Integer(), nullable=False),
        sa.Column("custodians", sa.JSON(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.Column("credential_sha256", sa.String(length=64), nullable=True),
        sa.Column("enrolment_sha256", sa.String(length=64), nullable=True),
        sa.Column("enrolment_expires_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_counter", sa.Integer(), nullable=False),
        sa.Column("last_seen_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("silence_alarmed_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"], ["ca_certificates.id"], name=op.f("fk_machines_certificate_id_ca_certificates")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_machines_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_machines")),
        sa.UniqueConstraint("credential_sha256", name=op.f("uq_machines_credential_sha256")),
    )
    with op.batch_alter_table("machines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_machines_organisation_id"), ["organisation_id"], unique=False)

    op.create_table(
        "authorisations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("machine_id", sa.String(length=64), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("request_number", sa.String(length=32), nullable=False),
        sa.Column("document_sha256", sa.String(length=64), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("not_before", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("not_after", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("cose", sa.LargeBinary(), nullable=False),
        sa.Column("issued_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["machine_id"], ["machines.id"], name=op.f("fk_authorisations_machine_id_machines")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authorisations")),
    )
    with op.batch_alter_table("authorisations", schema=None) as batch_op:
        batch_op.create_index("ix_authorisations_machine_state", ["machine_id", "state"], unique=False)
        batch_op.create_index(batch_op.f("ix_authorisations_not_after"), ["not_after"], unique=False)
        batch_op.create_index(batch_op.f("ix_authorisations_request_id"), ["request_id"], unique=False)

    op.create_table(
        "machine_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.String(length=64), nullable=False),
        sa.Column("counter", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("authorisation_id", sa.String(length=32), nullable=True),
        sa.Column("use", sa.Integer(), nullable=False),
        sa.Column("time", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("custodian", sa.String(length=64), nullable=True),
        sa.Column("document_sha256", sa.String(length=64), nullable=True),
        sa.Column("photo_sha256", sa.String(length=64), nullable=True),
        sa.Column("photo_received_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("alarm", sa.String(length=40), nullable=True),
        sa.Column("cose", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("received_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["machine_id"], ["machines.id"], name=op.f("fk_machine_events_machine_id_machines")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_machine_events")),
        sa.UniqueConstraint("machine_id", "counter", name="uq_machine_events_counter"),
    )
    with op.batch_alter_table("machine_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_machine_events_authorisation_id"), ["authorisation_id"], unique=False)

    op.create_table(
        "machine_slots",
        sa.Column("machine_id", sa.String(length=64), nullable=False),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seal_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["machine_id"], ["machines.id"], name=op.f("fk_machine_slots_machine_id_machines")),
        sa.ForeignKeyConstraint(["seal_id"], ["seals.id"], name=op.f("fk_machine_slots_seal_id_seals")),
        sa.PrimaryKeyConstraint("machine_id", "slot", name=op.f("pk_machine_slots")),
    )
    with op.batch_alter_table("machine_slots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_machine_slots_seal_id"), ["seal_id"], unique=False)

    op.create_table(
        "alarms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("authorisation_id", sa.String(length=32), nullable=True),
        sa.Column("raised_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_by_id", sa.Integer(), nullable=True),
        sa.Column("acknowledged_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["acknowledged_by_id"], ["users.id"], name=op.f("fk_alarms_acknowledged_by_id_users")),
        sa.ForeignKeyConstraint(["event_id"], ["machine_events.id"], name=op.f("fk_alarms_event_id_machine_events")),
        sa.ForeignKeyConstraint(["machine_id"], ["machines.id"], name=op.f("fk_alarms_machine_id_machines")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarms")),
    )
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alarms_machine_id"), ["machine_id"], unique=False)
        batch_op.create_index("ix_alarms_open", ["acknowledged_at", "raised_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.drop_index("ix_alarms_open")
        batch_op.drop_index(batch_op.f("ix_alarms_machine_id"))

    op.drop_table("alarms")
    with op.batch_alter_table("machine_slots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_machine_slots_seal_id"))

    op.drop_table("machine_slots")
    with op.batch_alter_table("machine_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_machine_events_authorisation_id"))

    op.drop_table("machine_events")
    with op.batch_alter_table("authorisations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authorisations_request_id"))
        batch_op.drop_index(batch_op.f("ix_authorisations_not_after"))
        batch_op.drop_index("ix_authorisations_machine_state")

    op.drop_table("authorisations")
    with op.batch_alter_table("machines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_machines_organisation_id"))

    op.drop_table("machines")
