-- Statistics (QĐ 766/QĐ-TTg): sums kept as dossiers change, so that a province-wide year is read
-- from about a thousand rows instead of a million dossiers. Keep in lockstep with the other
-- backend's 0011_statistics.sql.
--
-- Every dossier counts in the cohort of the day it entered the system (local date in Vietnam, as
-- days since 1970-01-01; month = year * 12 + month - 1). stat_dossier holds what each dossier
-- counts in now (a bit mask of dvc_domain::statistics::Metric); every change appends the
-- difference to stat_delta in the dossier's own transaction (append only: no row two filings
-- both update), and a job folds stat_delta into stat_daily and stat_monthly every few seconds.
-- Queries read the three (the deltas not folded yet included). The column names are
-- Metric::column(). Derived data: rebuilt with `dichvucong statistics rebuild`.

CREATE TABLE stat_dossier (
    dossier_id BIGINT PRIMARY KEY,
    agency_code TEXT NOT NULL,
    procedure_code TEXT NOT NULL,
    day BIGINT NOT NULL,
    mask BIGINT NOT NULL
);
CREATE INDEX stat_dossier_day ON stat_dossier (day, agency_code);

CREATE TABLE stat_delta (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agency_code TEXT NOT NULL,
    day BIGINT NOT NULL,
    month BIGINT NOT NULL,
    received_direct BIGINT NOT NULL DEFAULT 0,
    received_online BIGINT NOT NULL DEFAULT 0,
    received_post BIGINT NOT NULL DEFAULT 0,
    counted BIGINT NOT NULL DEFAULT 0,
    done_early BIGINT NOT NULL DEFAULT 0,
    done_on_time BIGINT NOT NULL DEFAULT 0,
    done_late BIGINT NOT NULL DEFAULT 0,
    refused BIGINT NOT NULL DEFAULT 0,
    stopped BIGINT NOT NULL DEFAULT 0,
    withdrawn BIGINT NOT NULL DEFAULT 0,
    finished_late BIGINT NOT NULL DEFAULT 0,
    in_progress BIGINT NOT NULL DEFAULT 0,
    awaiting BIGINT NOT NULL DEFAULT 0,
    fee_due BIGINT NOT NULL DEFAULT 0,
    paid_online BIGINT NOT NULL DEFAULT 0,
    e_result BIGINT NOT NULL DEFAULT 0,
    online_counted BIGINT NOT NULL DEFAULT 0,
    digitised BIGINT NOT NULL DEFAULT 0,
    digitised_result BIGINT NOT NULL DEFAULT 0,
    reused BIGINT NOT NULL DEFAULT 0,
    synced BIGINT NOT NULL DEFAULT 0,
    rating_very BIGINT NOT NULL DEFAULT 0,
    rating_good BIGINT NOT NULL DEFAULT 0,
    rating_bad BIGINT NOT NULL DEFAULT 0,
    extended BIGINT NOT NULL DEFAULT 0,
    supplemented BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE stat_daily (
    agency_code TEXT NOT NULL,
    day BIGINT NOT NULL,
    month BIGINT NOT NULL,
    received_direct BIGINT NOT NULL DEFAULT 0,
    received_online BIGINT NOT NULL DEFAULT 0,
    received_post BIGINT NOT NULL DEFAULT 0,
    counted BIGINT NOT NULL DEFAULT 0,
    done_early BIGINT NOT NULL DEFAULT 0,
    done_on_time BIGINT NOT NULL DEFAULT 0,
    done_late BIGINT NOT NULL DEFAULT 0,
    refused BIGINT NOT NULL DEFAULT 0,
    stopped BIGINT NOT NULL DEFAULT 0,
    withdrawn BIGINT NOT NULL DEFAULT 0,
    finished_late BIGINT NOT NULL DEFAULT 0,
    in_progress BIGINT NOT NULL DEFAULT 0,
    awaiting BIGINT NOT NULL DEFAULT 0,
    fee_due BIGINT NOT NULL DEFAULT 0,
    paid_online BIGINT NOT NULL DEFAULT 0,
    e_result BIGINT NOT NULL DEFAULT 0,
    online_counted BIGINT NOT NULL DEFAULT 0,
    digitised BIGINT NOT NULL DEFAULT 0,
    digitised_result BIGINT NOT NULL DEFAULT 0,
    reused BIGINT NOT NULL DEFAULT 0,
    synced BIGINT NOT NULL DEFAULT 0,
    rating_very BIGINT NOT NULL DEFAULT 0,
    rating_good BIGINT NOT NULL DEFAULT 0,
    rating_bad BIGINT NOT NULL DEFAULT 0,
    extended BIGINT NOT NULL DEFAULT 0,
    supplemented BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, agency_code)
);

CREATE TABLE stat_monthly (
    agency_code TEXT NOT NULL,
    month BIGINT NOT NULL,
    received_direct BIGINT NOT NULL DEFAULT 0,
    received_online BIGINT NOT NULL DEFAULT 0,
    received_post BIGINT NOT NULL DEFAULT 0,
    counted BIGINT NOT NULL DEFAULT 0,
    done_early BIGINT NOT NULL DEFAULT 0,
    done_on_time BIGINT NOT NULL DEFAULT 0,
    done_late BIGINT NOT NULL DEFAULT 0,
    refused BIGINT NOT NULL DEFAULT 0,
    stopped BIGINT NOT NULL DEFAULT 0,
    withdrawn BIGINT NOT NULL DEFAULT 0,
    finished_late BIGINT NOT NULL DEFAULT 0,
    in_progress BIGINT NOT NULL DEFAULT 0,
    awaiting BIGINT NOT NULL DEFAULT 0,
    fee_due BIGINT NOT NULL DEFAULT 0,
    paid_online BIGINT NOT NULL DEFAULT 0,
    e_result BIGINT NOT NULL DEFAULT 0,
    online_counted BIGINT NOT NULL DEFAULT 0,
    digitised BIGINT NOT NULL DEFAULT 0,
    digitised_result BIGINT NOT NULL DEFAULT 0,
    reused BIGINT NOT NULL DEFAULT 0,
    synced BIGINT NOT NULL DEFAULT 0,
    rating_very BIGINT NOT NULL DEFAULT 0,
    rating_good BIGINT NOT NULL DEFAULT 0,
    rating_bad BIGINT NOT NULL DEFAULT 0,
    extended BIGINT NOT NULL DEFAULT 0,
    supplemented BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (month, agency_code)
);

-- Open dossiers by filing time: the overdue ones are counted when the figures are read. The
-- index holds every column that count reads, so it never touches the table (open dossiers are a
-- few per cent of all: the index stays small).
CREATE INDEX dossiers_open_submitted ON dossiers (submitted_at, agency_code, status, supplement_count, paused_at,
    original_due_at, due_at, expected_at) WHERE finished_at IS NULL;

-- The leader's dashboard counts each official's actions in a period.
CREATE INDEX dossier_events_actor ON dossier_events (actor, at);
