-- Session management (GET /api/auth/sessions) and session binding.
-- user_agent: the User-Agent that opened the session, truncated to 256 characters.
-- ip_prefix: the /24 (IPv4) or /64 (IPv6) the session was last used from, never the address.
-- last_used_at: written at login and then at most once per 5 minutes per session, off the
--   response path (the user's Durable Object says when).
-- binding: '<mode>:<hex HMAC-SHA-256>' of the bound client attributes (SESSION_BIND_*), NULL
--   when nothing is bound; the attributes themselves are not recoverable from it.
ALTER TABLE refresh_families ADD COLUMN user_agent TEXT;
ALTER TABLE refresh_families ADD COLUMN ip_prefix TEXT;
ALTER TABLE refresh_families ADD COLUMN last_used_at INTEGER;
ALTER TABLE refresh_families ADD COLUMN binding TEXT;
