-- Statistics count a changed dossier after its transaction, not inside it: a state change queues
-- the dossier here (in the statement that records its event) and the statistics job (and any
-- reader of the sums, first) recounts the queued dossiers hundreds per transaction
-- (`store::statistics::count_changed`). A table of its own, not a flag on `dossiers`: clearing
-- a flag would rewrite the dossier's row and every one of its indexes. Keep in lockstep with the
-- other backend's 0018_stat_queue.sql.
CREATE TABLE stat_queue (
    dossier_id BIGINT PRIMARY KEY
);
