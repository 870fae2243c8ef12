-- +goose NO TRANSACTION
-- +goose Up
-- Deleting a refresh token sets its successor's parent_id to NULL (ON DELETE
-- SET NULL), which PostgreSQL does by looking the successor up by parent_id.
-- Without this index each deleted token scanned the whole table, so session
-- cleanup of a backlog (tens of thousands of ended sessions) took minutes per
-- batch and hit the statement timeout: it never caught up. CONCURRENTLY, so
-- refreshes keep going while the index is built on a large table.
CREATE INDEX CONCURRENTLY IF NOT EXISTS refresh_tokens_parent ON refresh_tokens (parent_id);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS refresh_tokens_parent;
