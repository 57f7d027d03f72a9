-- Third-party sign-in (EXTERNAL_JWT_ISSUER): which local user a provider's subject is.
-- The first valid token of a subject provisions the user and this row in one batch;
-- the primary key makes a concurrent second provisioning fail instead of duplicating.
CREATE TABLE external_identities (
  issuer     TEXT NOT NULL,            -- the token's exact `iss`
  subject    TEXT NOT NULL,            -- its `sub`
  user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (issuer, subject)
) WITHOUT ROWID;
CREATE INDEX idx_external_identities_user ON external_identities(user_id);
