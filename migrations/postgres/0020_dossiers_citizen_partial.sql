-- Dossiers of signed-in citizens only: a dossier filed without signing in (most of them, and
-- every desk and partner filing) no longer adds an entry to this index, on its insert or on any
-- update that rewrites its index entries (a status change). "My dossiers" still uses it:
-- `citizen_id = $1` implies the index's condition on both backends. Keep in lockstep with the
-- other backend's 0020_dossiers_citizen_partial.sql.
DROP INDEX dossiers_citizen;
CREATE INDEX dossiers_citizen ON dossiers (citizen_id) WHERE citizen_id IS NOT NULL;
