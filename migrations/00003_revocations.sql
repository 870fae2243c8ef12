-- +goose Up
-- Revocations of access tokens, written in the transaction that ends the
-- session or changes the user, and pushed to every replica by NOTIFY (sent
-- at commit, so a revocation is announced exactly when it becomes visible).
-- A row outlives every token it can affect (access TTL + leeway), then it is
-- pruned. xid orders catch-up: a replica reads the rows of every transaction
-- not yet finished at its previous read (see internal/postgres/revocations.go).
CREATE TABLE revocations (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    -- 'session': every token carrying sid = subject; 'user': every token of
    -- sub = subject issued (iat) before not_before.
    kind       text NOT NULL CHECK (kind IN ('session', 'user')),
    subject    uuid NOT NULL,
    reason     text NOT NULL,
    not_before timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX revocations_xid ON revocations (xid);
CREATE INDEX revocations_expires ON revocations (expires_at);

-- Tokens of a user issued before this moment are refused; the issuer waits
-- for it (at most a second) before signing a new token for the user.
ALTER TABLE users ADD COLUMN tokens_not_before timestamptz;

-- +goose StatementBegin
CREATE FUNCTION revenue_notify_revocations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('revenue_revocations', '');
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER revocations_notify AFTER INSERT ON revocations
    FOR EACH STATEMENT EXECUTE FUNCTION revenue_notify_revocations();

-- +goose Down
DROP TRIGGER revocations_notify ON revocations;
DROP FUNCTION revenue_notify_revocations();
ALTER TABLE users DROP COLUMN tokens_not_before;
DROP TABLE revocations;
