-- An institution's policy, in SQL that SQLite and PostgreSQL both accept unchanged.
-- pin_digits: the length of the PIN the trainee's browser mixes into its device key
-- (0 = no PIN, 4 or 6); the PIN itself never reaches the server (docs/api.md).
-- in_service: whether trainees may use OTP at this institution now; a closed institution's
-- own endpoints keep working, so it can prepare before it opens.
ALTER TABLE tenants ADD COLUMN pin_digits INTEGER NOT NULL DEFAULT 0 CHECK (pin_digits IN (0, 4, 6));
ALTER TABLE tenants ADD COLUMN in_service BOOLEAN NOT NULL DEFAULT TRUE;
