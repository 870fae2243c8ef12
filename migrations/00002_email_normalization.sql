-- Emails are stored in one normal form and matched by plain equality, instead
-- of lower(email), which folds look-alikes into ASCII letters (İ U+0130 and
-- the Kelvin sign U+212A became i and k). The form is auth.NormalizeEmail's:
-- ASCII white space trimmed, A-Z turned into a-z, then Unicode NFC; no other
-- character changes.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION normalize_email(email text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT normalize(translate(btrim(email, E' \t\n\r\f\013'),
                               'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), NFC)
$$;
-- +goose StatementEnd

-- Existing rows are normalized in place. Two rows that would become the same
-- address stop the migration, naming them: they are two accounts, and which
-- one keeps the address is for a person to decide, never merged here.
-- +goose StatementBegin
DO $$
DECLARE
    clash record;
BEGIN
    IF current_setting('server_encoding') <> 'UTF8' THEN
        RAISE EXCEPTION 'email normalization needs a UTF8 database; this one is %', current_setting('server_encoding');
    END IF;

    SELECT normalize_email(email) AS normalized, string_agg(format('%L (user %s)', email, id), ', ' ORDER BY created_at, id) AS emails
      INTO clash
      FROM users
     GROUP BY normalize_email(email)
    HAVING count(*) > 1
     ORDER BY normalize_email(email)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'users.email: % would all become %', clash.emails, quote_literal(clash.normalized)
            USING HINT = 'These are different accounts under the new email rule (ASCII letters case-insensitive, every other character exact). Change or delete all but one of them, then migrate again.';
    END IF;

    -- NFC turns the Kelvin sign into an upper-case K after the lower-casing:
    -- such an address could never be matched once stored.
    SELECT email, id INTO clash
      FROM users
     WHERE normalize_email(normalize_email(email)) <> normalize_email(email)
     ORDER BY created_at, id
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'users.email: % (user %) has a character that Unicode normalization turns into an upper-case ASCII letter (such as the Kelvin sign U+212A)', quote_literal(clash.email), clash.id
            USING HINT = 'Change that address, then migrate again.';
    END IF;

    UPDATE users SET email = normalize_email(email) WHERE email <> normalize_email(email);
END
$$;
-- +goose StatementEnd

DROP INDEX users_email_key;
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);
ALTER TABLE users ADD CONSTRAINT users_email_normalized CHECK (email = normalize_email(email));

-- +goose Down
ALTER TABLE users DROP CONSTRAINT users_email_normalized;
ALTER TABLE users DROP CONSTRAINT users_email_key;
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
DROP FUNCTION normalize_email(text);
