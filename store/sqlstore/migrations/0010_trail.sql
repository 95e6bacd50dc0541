-- The tamper-evident trail (docs/audit-trail.md): each audit entry and each
-- provenance event carries the hash of the previous one of its chain and
-- its own hash (store/trail). Rows written before this migration have none:
-- verification counts them as before the trail. trail_heads holds the
-- audit chain's head, signed periodically with store.signing_key.
ALTER TABLE audit_log ADD COLUMN prev_hash {{.Bytes}};
ALTER TABLE audit_log ADD COLUMN hash {{.Bytes}};
ALTER TABLE events ADD COLUMN prev_hash {{.Bytes}};
ALTER TABLE events ADD COLUMN hash {{.Bytes}};

CREATE TABLE trail_heads (
    id            {{.ID}},
    at            {{.Time}} NOT NULL,
    audit_id      {{.Int64}} NOT NULL,
    audit_hash    {{.Bytes}} NOT NULL,
    public_key    {{.Bytes}} NOT NULL,
    signature     {{.Bytes}} NOT NULL
){{.Strict}};
