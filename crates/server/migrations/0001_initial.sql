-- The cloud-otp schema, written in SQL that SQLite and PostgreSQL both accept unchanged, so
-- one migration set serves both backends. Times are Unix milliseconds (BIGINT); hashes and
-- ciphertexts are text (hex, base64). No table holds a name or a phone number.

CREATE TABLE meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Institutions. The API key is stored as its SHA-256 only.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    customer_code TEXT NOT NULL UNIQUE,
    api_key_hash TEXT NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL
);

-- Web origins whose pages may call the browser endpoints for a tenant (CORS).
CREATE TABLE tenant_origins (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    origin TEXT NOT NULL,
    PRIMARY KEY (tenant_id, origin)
);
CREATE INDEX tenant_origins_by_origin ON tenant_origins (origin);

-- A trainee's verification state (cloud_otp_core::State). `version` grows with every write,
-- so a verification writes only if nothing changed since it read (compare-and-set).
CREATE TABLE users (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    user_id TEXT NOT NULL,
    last_step BIGINT,
    failures BIGINT NOT NULL,
    locked BOOLEAN NOT NULL,
    version BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

-- Devices, active and retired. The secret is AES-256-GCM ciphertext; at most one device per
-- user is active (retired_ms IS NULL).
CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    fingerprint TEXT,
    secret_enc TEXT NOT NULL,
    registered_ms BIGINT NOT NULL,
    retired_ms BIGINT,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id)
);
CREATE UNIQUE INDEX devices_one_active ON devices (tenant_id, user_id) WHERE retired_ms IS NULL;

-- OTP sessions opened by an institution for one user and purpose; the token is stored hashed.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    user_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    used_ms BIGINT
);
CREATE INDEX sessions_by_expiry ON sessions (expires_ms);

-- Single-use passes issued by a successful verification; the token is stored hashed.
CREATE TABLE passes (
    token_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    user_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    device_id TEXT NOT NULL,
    device_kind TEXT NOT NULL,
    device_label TEXT NOT NULL,
    verified_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    redeemed_ms BIGINT
);
CREATE INDEX passes_by_expiry ON passes (expires_ms);

-- The outstanding activation code of a user (at most one), as a keyed hash.
CREATE TABLE activations (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    user_id TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    used_ms BIGINT,
    PRIMARY KEY (tenant_id, user_id)
);

-- The audit log. `id` starts with the time in hexadecimal, so ordering by id is ordering by
-- time, with ties broken in the order one server wrote them.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    event TEXT NOT NULL,
    outcome TEXT NOT NULL,
    device_label TEXT,
    detail TEXT
);
CREATE INDEX audit_events_by_tenant ON audit_events (tenant_id, id);
