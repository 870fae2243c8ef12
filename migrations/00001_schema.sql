-- +goose Up
CREATE TABLE organizations (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    currency   text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id     uuid NOT NULL REFERENCES organizations (id),
    email               text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    password_hash       text NOT NULL,
    roles               text[] NOT NULL DEFAULT '{}',
    disabled            boolean NOT NULL DEFAULT false,
    -- Per-account throttling lives here, not in memory, so it holds across replicas and restarts.
    failed_logins       integer NOT NULL DEFAULT 0,
    locked_until        timestamptz,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE revenue_entries (
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    month           date NOT NULL CHECK (extract(day FROM month) = 1),
    amount_cents    bigint NOT NULL,
    PRIMARY KEY (organization_id, month)
);

CREATE TABLE sessions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL,
    last_used_at    timestamptz NOT NULL,
    idle_expires_at timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    end_reason      text,
    client_ip       text NOT NULL DEFAULT '',
    user_agent      text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_active ON sessions (user_id) WHERE ended_at IS NULL;

CREATE TABLE refresh_tokens (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- SHA-256 of the opaque token: the token itself is never stored.
    token_hash bytea NOT NULL UNIQUE,
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    parent_id  bigint REFERENCES refresh_tokens (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Audit rows outlive users and sessions on purpose: no foreign keys.
CREATE TABLE auth_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at timestamptz NOT NULL,
    kind        text NOT NULL,
    user_id     uuid,
    session_id  uuid,
    client_ip   text NOT NULL DEFAULT '',
    user_agent  text NOT NULL DEFAULT '',
    reason      text NOT NULL DEFAULT ''
);
CREATE INDEX auth_events_user ON auth_events (user_id, occurred_at);
CREATE INDEX auth_events_time ON auth_events (occurred_at);

-- +goose Down
DROP TABLE auth_events;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE revenue_entries;
DROP TABLE users;
DROP TABLE organizations;
