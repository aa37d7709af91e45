-- Issue 22: procedures edited in the browser. Every change is a version: at most one draft per
-- procedure, the published ones kept readable. `procedures` holds the live version (its number
-- in `version`; `retired_at` set when it is no longer offered), and a dossier keeps the number
-- of the version it was filed with (`form_version`), so its review, back-office page and
-- documents show that form even after a newer one is published.
CREATE TABLE procedure_versions (
    code TEXT NOT NULL,
    version BIGINT NOT NULL,
    status TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    published_at BIGINT,
    published_by TEXT,
    PRIMARY KEY (code, version)
);

INSERT INTO procedure_versions (code, version, status, data, created_at, created_by, published_at, published_by)
    SELECT code, 1, 'published', data, updated_at, 'import', updated_at, 'import' FROM procedures;

ALTER TABLE procedures ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE procedures ADD COLUMN retired_at BIGINT;
ALTER TABLE dossiers ADD COLUMN form_version BIGINT NOT NULL DEFAULT 1;
