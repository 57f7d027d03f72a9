-- secure-api schema.
-- Every timestamp is INTEGER unix seconds (UTC), compared as integers: no string
-- comparison between ISO and `datetime('now')` formats. The API renders them as ISO-8601.
-- D1 enforces foreign keys.

CREATE TABLE roles (
  name        TEXT PRIMARY KEY,
  description TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE permissions (
  name     TEXT PRIMARY KEY,           -- e.g. 'posts:update:any'
  resource TEXT NOT NULL,
  action   TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE role_permissions (
  role       TEXT NOT NULL REFERENCES roles(name) ON DELETE CASCADE,
  permission TEXT NOT NULL REFERENCES permissions(name) ON DELETE CASCADE,
  PRIMARY KEY (role, permission)
) WITHOUT ROWID;

CREATE TABLE users (
  id            TEXT PRIMARY KEY,      -- UUID v4
  -- Stored normalised (trimmed, lower-case): UNIQUE then also covers case variants.
  email         TEXT NOT NULL UNIQUE CHECK (email = lower(trim(email)) AND length(email) <= 254),
  -- Self-describing: $pbkdf2-sha256$i=<iterations>$<salt>$<hash> (legacy tutorial format accepted, rehashed on login).
  password_hash TEXT NOT NULL,
  role          TEXT NOT NULL DEFAULT 'user' REFERENCES roles(name),
  is_active     INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);
CREATE INDEX idx_users_role_active ON users(role, is_active);
CREATE INDEX idx_users_created ON users(created_at);

-- A login session. Its id is the `sid` claim of every access token issued in it, so
-- revoking the family revokes those access tokens on their next request.
CREATE TABLE refresh_families (
  id            TEXT PRIMARY KEY,
  user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL,      -- absolute end of the session, never extended
  revoked_at    INTEGER,
  revoke_reason TEXT                   -- logout | logout_all | password_change | password_reset | reuse | admin_update
);
CREATE INDEX idx_refresh_families_user ON refresh_families(user_id, revoked_at);
CREATE INDEX idx_refresh_families_expires ON refresh_families(expires_at);

CREATE TABLE refresh_tokens (
  token_hash  TEXT PRIMARY KEY,        -- SHA-256 hex of the opaque token; the token itself is never stored
  family_id   TEXT NOT NULL REFERENCES refresh_families(id) ON DELETE CASCADE,
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  rotated_at  INTEGER,                 -- set once, by the compare-and-set that exchanged it
  replaced_by TEXT                     -- hash of the successor issued by that compare-and-set
) WITHOUT ROWID;
CREATE INDEX idx_refresh_tokens_family ON refresh_tokens(family_id);
CREATE INDEX idx_refresh_tokens_expires ON refresh_tokens(expires_at);

CREATE TABLE api_keys (
  id           TEXT PRIMARY KEY,
  user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  key_prefix   TEXT NOT NULL,          -- 'sk_live_' + 8 characters, shown in lists
  key_hash     TEXT NOT NULL UNIQUE,   -- SHA-256 hex of the full key
  name         TEXT NOT NULL,
  scopes       TEXT NOT NULL,          -- JSON array of permission names, non-empty
  rate_limit   INTEGER NOT NULL DEFAULT 1000 CHECK (rate_limit BETWEEN 1 AND 100000),
  last_used_at INTEGER,
  expires_at   INTEGER,
  created_at   INTEGER NOT NULL,
  revoked_at   INTEGER
);
CREATE INDEX idx_api_keys_user ON api_keys(user_id, revoked_at);
CREATE INDEX idx_api_keys_prefix ON api_keys(key_prefix);
CREATE INDEX idx_api_keys_created ON api_keys(created_at);

CREATE TABLE posts (
  id         TEXT PRIMARY KEY,
  author_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  title      TEXT NOT NULL,
  body       TEXT NOT NULL,
  published  INTEGER NOT NULL DEFAULT 0 CHECK (published IN (0, 1)),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX idx_posts_published_created ON posts(published, created_at DESC);
CREATE INDEX idx_posts_author_created ON posts(author_id, created_at DESC);
CREATE INDEX idx_posts_created ON posts(created_at DESC);

CREATE TABLE audit_logs (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,  -- total order for "newest first"
  id          TEXT NOT NULL UNIQUE,
  user_id     TEXT,                    -- no FK: events outlive users and name unknown accounts
  action      TEXT NOT NULL,
  resource    TEXT NOT NULL,
  resource_id TEXT,
  ip_address  TEXT,
  user_agent  TEXT,
  request_id  TEXT NOT NULL,           -- the X-Request-Id of the request that caused it
  metadata    TEXT NOT NULL DEFAULT '{}',  -- redacted JSON
  created_at  INTEGER NOT NULL
);
CREATE INDEX idx_audit_created ON audit_logs(created_at);
CREATE INDEX idx_audit_user ON audit_logs(user_id, created_at);
CREATE INDEX idx_audit_action ON audit_logs(action, created_at);
CREATE INDEX idx_audit_resource ON audit_logs(resource, created_at);
CREATE INDEX idx_audit_request ON audit_logs(request_id);

-- Failed-login state per account, exact (D1, not KV). Keyed by SHA-256 of the normalised
-- email so that unknown emails lock the same way without storing what was typed.
CREATE TABLE login_lockouts (
  account_key  TEXT PRIMARY KEY,
  failures     INTEGER NOT NULL,
  window_start INTEGER NOT NULL,
  locked_until INTEGER,
  updated_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX idx_login_lockouts_updated ON login_lockouts(updated_at);

CREATE TABLE password_resets (
  token_hash    TEXT PRIMARY KEY,      -- SHA-256 hex; the token is only in the delivered message
  user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL,
  used_at       INTEGER,
  superseded_at INTEGER                -- set when a newer request replaced it
) WITHOUT ROWID;
CREATE INDEX idx_password_resets_user ON password_resets(user_id);
CREATE INDEX idx_password_resets_expires ON password_resets(expires_at);

-- Messages to deliver (password reset links). An operator's mailer reads undelivered
-- rows (delivered_at IS NULL), sends them and sets delivered_at. See README "Outbox".
CREATE TABLE outbox (
  id           TEXT PRIMARY KEY,
  kind         TEXT NOT NULL,          -- 'password_reset'
  recipient    TEXT NOT NULL,
  subject      TEXT NOT NULL,
  body         TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  delivered_at INTEGER,
  attempts     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX idx_outbox_pending ON outbox(delivered_at, created_at);

-- Exact fixed-window counters for rate limits that need a per-principal limit or a
-- remaining count (API keys). One row per bucket and window.
CREATE TABLE rate_limit_counters (
  bucket       TEXT NOT NULL,
  window_start INTEGER NOT NULL,
  count        INTEGER NOT NULL,
  PRIMARY KEY (bucket, window_start)
) WITHOUT ROWID;
CREATE INDEX idx_rate_limit_window ON rate_limit_counters(window_start);
