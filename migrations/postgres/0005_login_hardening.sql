-- Login hardening (issue 16). Keep in lockstep with migrations/sqlite/0004_login_hardening.sql.

-- Failed logins per (account, client address): growing delays for that pair only, so that
-- failures from elsewhere never lock the real official out. Forgotten after a day.
CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    last_at BIGINT NOT NULL
);

-- E-mail addresses are stored and compared lower-cased. Two accounts that differ only by case
-- keep their spelling (the unique index would refuse the change); an administrator merges them.
UPDATE staff SET email = lower(email)
 WHERE email <> lower(email)
   AND NOT EXISTS (SELECT 1 FROM staff other WHERE other.id <> staff.id AND lower(other.email) = lower(staff.email));
