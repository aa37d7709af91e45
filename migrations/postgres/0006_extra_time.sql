-- Lawful extra time: working days granted under a procedure's declared variants of its time
-- limit (they move the appointment and the one on-time status is judged against). Keep in
-- lockstep with the other backend's 0005_extra_time.sql.

ALTER TABLE dossiers ADD COLUMN extra_working_days BIGINT NOT NULL DEFAULT 0;
