-- Security (issue 9): server-side sessions, login failure counters for the brute-force lockout,
-- security events, and a database that does not write failing rows into the server log.

-- A session per login. The client holds a random token; only its SHA-256 is stored, so a copy of
-- this table does not let anyone in. A session ends (ended_at, end_reason) on logout, password
-- change, deactivation, role or carrier change, or by an administrator; it also lapses after the
-- absolute lifetime (expires_at) or the idle lifetime (checked against last_seen_at).
CREATE TABLE user_sessions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_sha256    bytea NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    end_reason      text,
    client_addr     text,
    user_agent      text
);
CREATE INDEX user_sessions_open ON user_sessions (user_id) WHERE ended_at IS NULL;

-- Consecutive failed logins per key: 'login:<login>' or 'addr:<client address>'.
CREATE TABLE login_failures (
    key             text PRIMARY KEY,
    failures        integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    last_failed_at  timestamptz NOT NULL,
    locked_until    timestamptz
);

-- Security events (failed logins, lockouts, sessions ended by an administrator). Never a password.
CREATE TABLE security_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL,
    kind            text NOT NULL,
    login           text,
    client_addr     text,
    user_id         bigint REFERENCES users(id) ON DELETE SET NULL,
    detail          jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX security_events_at ON security_events (at);

-- The server log must not quote a failing row ("DETAIL: Failing row contains (...)", "Key
-- (snils)=(...)") nor the statement with its parameters. These two settings are superuser-only
-- (or need GRANT SET ON PARAMETER, PostgreSQL 15+); a role without the right keeps going and
-- relies on scripts/setup.sh / the DBA (docs/security.md).
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET log_error_verbosity = terse', current_database());
    EXECUTE format('ALTER DATABASE %I SET log_min_error_statement = panic', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'log privacy settings need a superuser: see docs/security.md';
END
$$;
