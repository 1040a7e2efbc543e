-- Test institutions and what siteverify tells about a pass, in SQL that SQLite and
-- PostgreSQL both accept unchanged.
-- tenants.test_mode: NULL for a real institution; otherwise the fixed outcome of its
-- verifications (src/test_mode.rs). Set when the institution is created, never changed.
ALTER TABLE tenants ADD COLUMN test_mode TEXT
    CHECK (test_mode IN ('always_pass', 'always_fail', 'always_suspended'));
-- passes.origin: the web origin the code was typed on (the request's Origin header, which
-- the server checked against the institution's origins); NULL when the request had none.
ALTER TABLE passes ADD COLUMN origin TEXT;
-- passes.idempotency_key: the key of the siteverify that redeemed the pass, so a retry
-- with the same key gets the same answer (docs/api.md).
ALTER TABLE passes ADD COLUMN idempotency_key TEXT;
