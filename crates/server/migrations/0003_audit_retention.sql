-- How long an institution's audit events are kept, in SQL that SQLite and PostgreSQL both
-- accept unchanged. NULL: the server's --audit-retention-days; 0: forever; N: N days.
ALTER TABLE tenants ADD COLUMN audit_retention_days INTEGER CHECK (audit_retention_days >= 0);
