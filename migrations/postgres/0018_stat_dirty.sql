-- Statistics count a changed dossier after its transaction, not inside it: a state change marks
-- the dossier (`stat_dirty = 1`, in the same UPDATE) and the statistics job (and any reader of
-- the sums, first) recounts the marked dossiers many per transaction (`store::statistics::
-- count_changed`). Keep in lockstep with the other backend's 0018_stat_dirty.sql.
ALTER TABLE dossiers ADD COLUMN stat_dirty SMALLINT NOT NULL DEFAULT 0;
CREATE INDEX dossiers_stat_dirty ON dossiers (id) WHERE stat_dirty = 1;
