-- Facts about a dossier that statistics (QĐ 766) count, kept on the dossier row by the feature
-- that owns each one, so the figures need no joins across feature tables. `channel` (since 0001)
-- is 1 trực tiếp (at the desk), 2 trực tuyến (online), 3 qua dịch vụ bưu chính (by post), the
-- national portal's KenhThucHien codes. Keep in lockstep with the other backend's 0007_outcomes.sql.

-- Level 4: the fee owed (đồng) and the payment's state (NULL: nothing to pay; else created,
-- pending, paid, failed, cancelled, expired or refunded).
ALTER TABLE dossiers ADD COLUMN fee_vnd BIGINT NOT NULL DEFAULT 0;
ALTER TABLE dossiers ADD COLUMN payment_status TEXT;
-- How the citizen receives the result: desk, online or post; 1 once a digitally signed
-- electronic result was issued.
ALTER TABLE dossiers ADD COLUMN delivery TEXT NOT NULL DEFAULT 'desk';
ALTER TABLE dossiers ADD COLUMN result_electronic BIGINT NOT NULL DEFAULT 0;
-- Satisfaction: NULL not rated; 1 rất hài lòng, 2 hài lòng, 3 không hài lòng.
ALTER TABLE dossiers ADD COLUMN rating BIGINT;
-- Answers filled in from data the State already holds (the citizen's electronic identity).
ALTER TABLE dossiers ADD COLUMN reused_answers BIGINT NOT NULL DEFAULT 0;
-- 1 when the papers of a dossier received at the desk or by post were scanned (số hóa).
ALTER TABLE dossiers ADD COLUMN digitised BIGINT NOT NULL DEFAULT 0;
-- When the dossier's last status change was acknowledged by the national portal (NULL: never).
ALTER TABLE dossiers ADD COLUMN synced_at BIGINT;
