-- Shared rate limits (SQLite). Keep in lockstep with migrations/postgres/0003_rate_limits.sql.
-- One row per (action and client IP, fixed window); every web node counts in the same row.

CREATE TABLE rate_limits (
    key TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (key, window_start)
);
