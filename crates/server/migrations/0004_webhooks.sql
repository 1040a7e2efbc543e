-- Signed webhooks, in SQL that SQLite and PostgreSQL both accept unchanged.
-- webhooks: an institution's receiver; the signing secret is AES-256-GCM ciphertext under the
-- master key, like device secrets (it must be used to sign, so it cannot be a hash).
CREATE TABLE webhooks (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants (id),
    url TEXT NOT NULL,
    secret_enc TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);

-- The outbox: one row per event to deliver, written in the transaction of the change it
-- reports; deleted once delivered. `id` starts with the time in hexadecimal, like audit ids.
-- A row whose attempts ran out stays with dead = TRUE for the operator to see (and retry).
CREATE TABLE webhook_outbox (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    event TEXT NOT NULL,
    body TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    dead BOOLEAN NOT NULL,
    last_error TEXT
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (dead, next_attempt_ms);
CREATE INDEX webhook_outbox_by_tenant ON webhook_outbox (tenant_id, user_id);
