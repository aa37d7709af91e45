-- One dossier workflow: the lifecycle's state on the dossier row (version for optimistic
-- concurrency, the appointment given at reception, extensions), the keyed hash chain over each
-- dossier's timeline (event hash, dossier head), and audit entries that name the timeline event
-- they record. Keep in lockstep with the other backend's 0004_workflow.sql.

ALTER TABLE dossiers ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE dossiers ADD COLUMN original_due_at BIGINT;
ALTER TABLE dossiers ADD COLUMN extension_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE dossiers ADD COLUMN events_head TEXT;
UPDATE dossiers SET original_due_at = due_at;

ALTER TABLE dossier_events ADD COLUMN hash TEXT;

ALTER TABLE audit_log ADD COLUMN event_id BIGINT;
ALTER TABLE audit_log ADD COLUMN event_hash TEXT;
-- 1 for entries chained with the secret key; 0 for entries written before it existed (they are
-- re-chained with the key once, at the first start of this version).
ALTER TABLE audit_log ADD COLUMN keyed BIGINT NOT NULL DEFAULT 0;

-- Events name the domain's actions, not the back office's URL slugs.
UPDATE dossier_events SET action = CASE action
    WHEN 'submit' THEN 'file'
    WHEN 'tiep-nhan' THEN 'receive'
    WHEN 'yeu-cau-bo-sung' THEN 'request_supplement'
    WHEN 'bo-sung' THEN 'supplement'
    WHEN 'tu-choi' THEN 'refuse'
    WHEN 'chuyen-xu-ly' THEN 'forward'
    WHEN 'trinh-phe-duyet' THEN 'submit_for_approval'
    WHEN 'phe-duyet' THEN 'approve'
    WHEN 'tra-lai' THEN 'send_back'
    WHEN 'tra-ket-qua' THEN 'return_result'
    WHEN 'xin-loi-gia-han' THEN 'apologise_and_extend'
    WHEN 'dung-xu-ly' THEN 'stop'
    ELSE action END;
UPDATE audit_log SET action = CASE action
    WHEN 'tiep-nhan' THEN 'receive'
    WHEN 'yeu-cau-bo-sung' THEN 'request_supplement'
    WHEN 'bo-sung' THEN 'supplement'
    WHEN 'tu-choi' THEN 'refuse'
    WHEN 'chuyen-xu-ly' THEN 'forward'
    WHEN 'trinh-phe-duyet' THEN 'submit_for_approval'
    WHEN 'phe-duyet' THEN 'approve'
    WHEN 'tra-lai' THEN 'send_back'
    WHEN 'tra-ket-qua' THEN 'return_result'
    WHEN 'xin-loi-gia-han' THEN 'apologise_and_extend'
    WHEN 'dung-xu-ly' THEN 'stop'
    ELSE action END;
