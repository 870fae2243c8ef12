-- +goose Up
-- The version of an organization's figures: their ETag. Every write locks
-- the organization's row first, checks it against If-Match, and bumps it
-- when a figure changed.
ALTER TABLE organizations ADD COLUMN revenue_version bigint NOT NULL DEFAULT 0;
-- How many changes the organization has recorded: each change's number
-- (seq) counts within its organization only, so neither ids nor cursors
-- tell one organization how much another writes.
ALTER TABLE organizations ADD COLUMN revenue_change_seq bigint NOT NULL DEFAULT 0;

-- Who changed what: one row per month set or removed, by a user through
-- the API or an operator at the command line. Never updated or deleted.
CREATE TABLE revenue_changes (
    organization_id  uuid NOT NULL REFERENCES organizations (id),
    seq              bigint NOT NULL CHECK (seq > 0),
    month            date NOT NULL CHECK (extract(day FROM month) = 1),
    old_amount_cents bigint,
    new_amount_cents bigint,
    -- A user (id and email as they were), or the operating-system account
    -- of an operator at the command line.
    user_id          uuid,
    user_email       text,
    os_user          text,
    source           text NOT NULL CHECK (source IN ('api', 'import', 'cli')),
    request_id       text,
    changed_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (old_amount_cents IS NOT NULL OR new_amount_cents IS NOT NULL),
    CHECK ((user_id IS NULL) <> (os_user IS NULL)),
    PRIMARY KEY (organization_id, seq)
);

-- +goose StatementBegin
CREATE FUNCTION revenue_changes_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'revenue_changes is append-only: % refused', TG_OP;
END $$;
-- +goose StatementEnd
CREATE TRIGGER revenue_changes_immutable BEFORE UPDATE OR DELETE ON revenue_changes
    FOR EACH ROW EXECUTE FUNCTION revenue_changes_immutable();
CREATE TRIGGER revenue_changes_no_truncate BEFORE TRUNCATE ON revenue_changes
    FOR EACH STATEMENT EXECUTE FUNCTION revenue_changes_immutable();

-- +goose Down
DROP TABLE revenue_changes;
DROP FUNCTION revenue_changes_immutable();
ALTER TABLE organizations DROP COLUMN revenue_change_seq;
ALTER TABLE organizations DROP COLUMN revenue_version;
