//! The statements of [`super::save`]: a workflow decision recorded on a dossier, all or nothing
//! — the dossier row (only at the version read: optimistic concurrency), its timeline events,
//! their webhook deliveries and audit entries, the statistics queue, the payment row, the
//! attachments, the access link and the e-mail.
//!
//! Each statement is a round trip (on SQLite to the connection's worker thread, on PostgreSQL to
//! the server), so a save is two of them on either backend:
//!
//! * **SQLite**: `BEGIN IMMEDIATE` and the version-checked `UPDATE` in one command, which returns
//!   the last timeline event id (the write lock is held from then on, so the next ids are known);
//!   then every insert and `COMMIT` in a second command.
//! * **PostgreSQL**: the events' ids drawn from their sequence, then one statement whose
//!   sub-statements all read the dossier's `UPDATE` (nothing is written when the version no
//!   longer matches), atomic on its own.
//!
//! The ids are known before the inserts because each event's audit entry carries its event's id
//! under its MAC ([`dvc_domain::audit::Entry::pending_mac`]).

use super::{CONFLICT, Decision, DossierRow, Prepared};
use crate::store::payments::PaymentWrite;
use crate::store::{StoreError, StoreResult};
use dvc_domain::audit::AuditKey;
use dvc_domain::dossier::DossierStatus;
use dvc_domain::outcome::Rating;
use dvc_domain::workflow::Event;
use sqlx::{Postgres, QueryBuilder, Row, Sqlite};

/// The conflict of a payment row no longer in the state it was read in.
const PAYMENT_CONFLICT: &str = "Giao dịch thanh toán vừa được cập nhật.";

/// One timeline event of a save with its id and its audit entry's MAC.
struct EventWrite<'d> {
    id: i64,
    event: &'d Event,
    details: &'d str,
    note: &'d str,
    step: i64,
    hash: &'d str,
    mac: String,
}

/// The events of `prepared` given their ids, with the MACs of their audit entries.
fn event_writes<'d>(
    key: &AuditKey,
    old: &DossierRow,
    decision: &Decision<'_>,
    prepared: &'d Prepared<'d>,
    ids: &[i64],
) -> StoreResult<Vec<EventWrite<'d>>> {
    if ids.len() != prepared.rows.len() {
        return Err(StoreError::Corrupt(format!(
            "{} event ids for {} events",
            ids.len(),
            prepared.rows.len()
        )));
    }
    Ok(prepared
        .rows
        .iter()
        .zip(ids)
        .map(|((e, details, note, step, hash), &id)| {
            let mac = dvc_domain::audit::Entry {
                seq: 0,
                at: e.at,
                actor: decision.actor.id.clone(),
                ip: decision.actor.ip.clone(),
                action: e.kind.name().to_string(),
                subject: old.code.clone(),
                from_state: e.from.map(|s| s.as_str().to_string()),
                to_state: Some(e.to.as_str().to_string()),
                reason: e.kind.reason().map(str::to_string),
                event_id: Some(id),
                event_hash: Some(hash.clone()),
            }
            .pending_mac(key);
            EventWrite {
                id,
                event: e,
                details,
                note,
                step: *step,
                hash,
                mac,
            }
        })
        .collect())
}

/// The dossier's `UPDATE … WHERE id = … AND version = …` (the version read), both backends.
fn push_update<DB>(
    b: &mut QueryBuilder<DB>,
    old: &DossierRow,
    decision: &Decision<'_>,
    p: &Prepared<'_>,
) where
    DB: sqlx::Database,
    for<'a> i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> Option<String>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> Option<i64>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let next = decision.next;
    b.push("UPDATE dossiers SET status = ");
    b.push_bind(next.status.as_str().to_string());
    macro_rules! set {
        ($col:literal, $v:expr) => {{
            b.push(concat!(", ", $col, " = "));
            b.push_bind($v);
        }};
    }
    set!("step", i64::try_from(next.step).unwrap_or(0));
    set!("step_started_at", next.step_started_at);
    set!("assignee_id", next.assignee_id);
    set!("unit", next.unit.clone());
    set!("supplement_count", next.supplement_count);
    set!("paused_at", next.paused_at);
    set!(
        "resume_status",
        next.resume_status.map(|s| s.as_str().to_string())
    );
    set!("received_at", next.received_at);
    set!("due_at", next.due_at);
    set!("finished_at", next.finished_at);
    set!("result_key", p.result_key.clone());
    set!("result_name", p.result_name.clone());
    set!("updated_at", p.updated_at);
    set!("version", next.version);
    set!("original_due_at", next.original_due_at);
    set!("extension_count", next.extension_count);
    set!("events_head", p.head.clone());
    set!("extra_working_days", next.extra_working_days);
    set!("result_electronic", i64::from(next.result_signed));
    set!("postal_tracking", next.postal_tracking.clone());
    set!("rating", next.rating.map(Rating::value));
    set!("expected_at", next.expected_at);
    // A payment's state on the dossier, with the payment row itself.
    if let Some(w) = &decision.payment {
        set!("payment_status", w.dossier_status().as_str().to_string());
    }
    b.push(" WHERE id = ");
    b.push_bind(old.id);
    b.push(" AND version = ");
    b.push_bind(old.version);
}

/// The Message-ID of the save's e-mail: the dossier, the kind and the last event.
fn message_id(old: &DossierRow, kind: &str, events: &[EventWrite<'_>]) -> String {
    let last = events.last().map(|e| e.id).unwrap_or(0);
    format!("<{}.{}.{}@dichvucong>", old.code, kind, last)
}

/// The webhooks that want an event of kind `$kind` on a dossier of agency `$agency`, as a
/// `WHERE` clause over `webhooks w` (both backends; the two binds pushed in that order).
macro_rules! push_webhooks_wanting {
    ($b:expr, $kind:expr, $agency:expr) => {{
        $b.push(
            " WHERE w.disabled_at IS NULL AND (w.event_kinds = '*' OR (',' || w.event_kinds || ',') LIKE ",
        );
        $b.push_bind(format!("%,{},%", $kind));
        $b.push(
            ") AND (w.all_agencies = 1 OR EXISTS (SELECT 1 FROM webhook_agencies a WHERE a.webhook_id = w.id AND a.agency_code = ",
        );
        $b.push_bind($agency.to_string());
        $b.push("))");
    }};
}

// ---------------------------------------------------------------------------------------------
// SQLite
// ---------------------------------------------------------------------------------------------

/// SQLite: records the decision on `conn`, ending with `COMMIT`. With `begin` the save opens its
/// own transaction (`BEGIN IMMEDIATE`); without, one is already open on `conn` (a filing's
/// follow-up). Either way, on an error the transaction is left open for the caller to roll back.
pub(super) async fn sqlite(
    conn: &mut sqlx::SqliteConnection,
    begin: bool,
    key: &AuditKey,
    old: &DossierRow,
    decision: &Decision<'_>,
    prepared: &Prepared<'_>,
) -> StoreResult<Option<i64>> {
    let (pay_ref, pay_from) = match &decision.payment {
        Some(PaymentWrite::Update { txn_ref, from, .. }) => {
            (Some(txn_ref.as_str()), Some(from.as_str()))
        }
        _ => (None, None),
    };
    // The first command: the update, refused unless the dossier is at the version read and, for
    // a payment update, the payment still in the state read; it returns the last timeline event
    // id (the write lock is held from the update on, so the next ids are known).
    let mut b = QueryBuilder::<Sqlite>::new(if begin { "BEGIN IMMEDIATE;\n" } else { "" });
    push_update(&mut b, old, decision, prepared);
    if let (Some(r), Some(f)) = (pay_ref, pay_from) {
        b.push(" AND EXISTS (SELECT 1 FROM payments WHERE txn_ref = ");
        b.push_bind(r);
        b.push(" AND status = ");
        b.push_bind(f);
        b.push(" AND dossier_id = ");
        b.push_bind(old.id);
        b.push(")");
    }
    b.push(
        " RETURNING MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'dossier_events'), 0), \
         COALESCE((SELECT MAX(id) FROM dossier_events), 0))",
    );
    let rows = b.build().fetch_all(&mut *conn).await?;
    let Some(row) = rows.first() else {
        return Err(StoreError::Conflict(if pay_ref.is_some() {
            PAYMENT_CONFLICT.into()
        } else {
            CONFLICT.into()
        }));
    };
    let last: i64 = row.try_get(0)?;
    let ids: Vec<i64> = (1..=prepared.rows.len() as i64).map(|i| last + i).collect();
    let events = event_writes(key, old, decision, prepared, &ids)?;
    let mut b = QueryBuilder::<Sqlite>::new("");
    for e in &events {
        push_event_sqlite(&mut b, old, decision, e);
    }
    b.push("INSERT INTO stat_queue (dossier_id) VALUES (");
    b.push_bind(old.id);
    b.push(") ON CONFLICT DO NOTHING;\n");
    push_rest(&mut b, old, decision, prepared.updated_at, &events, false);
    b.push("COMMIT;");
    let rows = b.build().fetch_all(&mut *conn).await?;
    // The only row is the outbox's `RETURNING id`, if there is an e-mail.
    match rows.first() {
        Some(r) => Ok(Some(r.try_get(0)?)),
        None => Ok(None),
    }
}

/// SQLite: one event, its webhook deliveries and its audit entry.
fn push_event_sqlite(
    b: &mut QueryBuilder<Sqlite>,
    old: &DossierRow,
    decision: &Decision<'_>,
    e: &EventWrite<'_>,
) {
    let ev = e.event;
    b.push("INSERT INTO dossier_events (id, dossier_id, at, actor, action, from_status, to_status, public_note, step, actor_name, actor_title, unit, details, hash) VALUES (");
    let mut s = b.separated(", ");
    s.push_bind(e.id)
        .push_bind(old.id)
        .push_bind(ev.at)
        .push_bind(decision.actor.id.clone())
        .push_bind(ev.kind.name())
        .push_bind(ev.from.map(DossierStatus::as_str))
        .push_bind(ev.to.as_str())
        .push_bind(e.note.to_string())
        .push_bind(e.step)
        .push_bind(decision.actor.name.clone())
        .push_bind(decision.actor.title.clone())
        .push_bind(decision.next.unit.clone())
        .push_bind(e.details.to_string())
        .push_bind(e.hash.to_string());
    b.push(");\nINSERT INTO deliveries (webhook_id, dossier_id, event_id, created_at, next_attempt_at) SELECT w.id, ");
    let mut s = b.separated(", ");
    s.push_bind(old.id)
        .push_bind(e.id)
        .push_bind(ev.at)
        .push_bind(ev.at);
    b.push(" FROM webhooks w");
    push_webhooks_wanting!(b, ev.kind.name(), old.agency_code);
    b.push(";\n");
    b.push("INSERT INTO audit_pending (at, actor, ip, action, subject, from_state, to_state, reason, event_id, event_hash, mac) VALUES (");
    push_audit_values(b, old, decision, e);
    b.push(");\n");
}

/// The values of an event's audit entry (both backends).
fn push_audit_values<DB>(
    b: &mut QueryBuilder<DB>,
    old: &DossierRow,
    decision: &Decision<'_>,
    e: &EventWrite<'_>,
) where
    DB: sqlx::Database,
    for<'a> i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> Option<String>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let ev = e.event;
    let mut s = b.separated(", ");
    s.push_bind(ev.at)
        .push_bind(decision.actor.id.clone())
        .push_bind(decision.actor.ip.clone())
        .push_bind(ev.kind.name().to_string())
        .push_bind(old.code.clone())
        .push_bind(ev.from.map(|s| s.as_str().to_string()))
        .push_bind(ev.to.as_str().to_string())
        .push_bind(ev.kind.reason().map(str::to_string))
        .push_bind(e.id)
        .push_bind(e.hash.to_string())
        .push_bind(e.mac.clone());
}

/// The writes after the events (both backends): the payment row, the attachments, the access
/// link and the e-mail (last, with `RETURNING id`). On SQLite (`pg == false`) each is a
/// statement of its own; on PostgreSQL a sub-statement reading `u` (the dossier's update), the
/// payment update's named `pu`, the e-mail's `o`.
fn push_rest<DB>(
    b: &mut QueryBuilder<DB>,
    old: &DossierRow,
    decision: &Decision<'_>,
    now: i64,
    events: &[EventWrite<'_>],
    pg: bool,
) where
    DB: sqlx::Database,
    for<'a> i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> Option<String>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> Option<i64>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    // SQLite: `VALUES (…)` / `… WHERE …`; PostgreSQL: `SELECT …, u.id FROM u`.
    let (open, dossier, close) = if pg {
        ("SELECT ", "u.id", " FROM u")
    } else {
        ("VALUES (", "", ")")
    };
    let sep = if pg { "), " } else { ";\n" };
    match &decision.payment {
        Some(PaymentWrite::Start(p)) => {
            b.push(if pg { "ps AS (" } else { "" });
            b.push(
                "INSERT INTO payments (dossier_id, provider, txn_ref, amount_vnd, status, order_info, created_at, create_date, \
                 expire_at, updated_at, client_ip) ",
            );
            b.push(open);
            if pg {
                b.push(dossier);
            } else {
                b.push_bind(old.id);
            }
            b.push(", ");
            let mut s = b.separated(", ");
            s.push_bind(p.provider.clone())
                .push_bind(p.txn_ref.clone())
                .push_bind(p.amount_vnd)
                .push_unseparated(", 'pending'")
                .push_bind(p.order_info.clone())
                .push_bind(p.created_at)
                .push_bind(p.create_date.clone())
                .push_bind(p.expire_at)
                .push_bind(p.created_at)
                .push_bind(p.client_ip.clone());
            b.push(close);
            b.push(sep);
        }
        Some(PaymentWrite::Update {
            txn_ref,
            from,
            to,
            gateway: g,
        }) => {
            let paid_at: Option<i64> =
                (*to == dvc_domain::payment::PaymentStatus::Paid).then_some(now);
            b.push(if pg { "pu AS (" } else { "" });
            b.push("UPDATE payments SET status = ");
            b.push_bind(to.as_str().to_string());
            b.push(", updated_at = ");
            b.push_bind(now);
            for (col, v) in [
                ("transaction_no", &g.transaction_no),
                ("bank_code", &g.bank_code),
                ("bank_tran_no", &g.bank_tran_no),
                ("card_type", &g.card_type),
                ("pay_date", &g.pay_date),
                ("response_code", &g.response_code),
                ("transaction_status", &g.transaction_status),
            ] {
                b.push(format!(", {col} = COALESCE("));
                b.push_bind(v.clone());
                b.push(format!(", {col})"));
            }
            b.push(", paid_at = COALESCE(");
            b.push_bind(paid_at);
            b.push(", paid_at)");
            b.push(if pg { " FROM u" } else { "" });
            b.push(" WHERE payments.txn_ref = ");
            b.push_bind(txn_ref.clone());
            b.push(" AND payments.status = ");
            b.push_bind(from.as_str().to_string());
            b.push(" AND payments.dossier_id = ");
            b.push_bind(old.id);
            b.push(if pg { " RETURNING payments.id" } else { "" });
            b.push(sep);
        }
        // The dossier's `payment_status` is set by the dossier's update.
        Some(PaymentWrite::Collected) | None => {}
    }
    for (i, a) in decision.attachments.iter().enumerate() {
        b.push(if pg {
            format!("fa{i} AS (")
        } else {
            String::new()
        });
        b.push(
            "INSERT INTO attachments (dossier_id, field_name, document_id, storage_key, file_name, content_type, size_bytes, sha256, created_at) ",
        );
        b.push(open);
        if pg {
            b.push(dossier);
        } else {
            b.push_bind(old.id);
        }
        b.push(", ");
        let mut s = b.separated(", ");
        s.push_bind(a.field_name.clone())
            .push_bind(a.document_id.clone())
            .push_bind(a.storage_key.clone())
            .push_bind(a.file_name.clone())
            .push_bind(a.content_type.clone())
            .push_bind(a.size_bytes)
            .push_bind(a.sha256.clone())
            .push_bind(now);
        b.push(close);
        b.push(sep);
    }
    if let Some(token_hash) = &decision.access_link {
        b.push(if pg { "l AS (" } else { "" });
        b.push("INSERT INTO access_links (token_hash, dossier_id, created_at) ");
        b.push(open);
        b.push_bind(token_hash.clone());
        b.push(", ");
        if pg {
            b.push(dossier);
        } else {
            b.push_bind(old.id);
        }
        b.push(", ");
        b.push_bind(now);
        b.push(close);
        b.push(sep);
    }
    if let Some(m) = &decision.mail {
        b.push(if pg { "o AS (" } else { "" });
        b.push("INSERT INTO outbox (kind, dossier_id, recipient, subject, body_text, message_id, created_at, next_attempt_at) ");
        b.push(open);
        b.push_bind(m.kind.clone());
        b.push(", ");
        if pg {
            b.push(dossier);
        } else {
            b.push_bind(old.id);
        }
        b.push(", ");
        let mut s = b.separated(", ");
        s.push_bind(m.recipient.clone())
            .push_bind(m.subject.clone())
            .push_bind(m.body_text.clone())
            .push_bind(message_id(old, &m.kind, events))
            .push_bind(now)
            .push_bind(now);
        b.push(close);
        b.push(" RETURNING id");
        b.push(sep);
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------

/// PostgreSQL: records the decision on `conn` (on its own, or inside a transaction open on it):
/// the events' ids from their sequence, then one statement. Every sub-statement reads `u`, the
/// dossier's update, so nothing is written when the version no longer matches; a payment update
/// that finds its row changed makes the statement fail (a division by zero on purpose, so that
/// it rolls back whole) and is reported as a conflict.
pub(super) async fn postgres(
    conn: &mut sqlx::PgConnection,
    key: &AuditKey,
    old: &DossierRow,
    decision: &Decision<'_>,
    prepared: &Prepared<'_>,
) -> StoreResult<Option<i64>> {
    let n = prepared.rows.len();
    let ids: Vec<i64> = if n == 0 {
        Vec::new()
    } else if n == 1 {
        // Most decisions: a statement without parameters keeps its plan (the series below is
        // planned afresh at each call: ~0.03 ms of PostgreSQL's time).
        sqlx::query_scalar("SELECT nextval('dossier_events_id_seq')")
            .fetch_all(&mut *conn)
            .await?
    } else {
        sqlx::query_scalar("SELECT nextval('dossier_events_id_seq') FROM generate_series(1, $1)")
            .bind(i64::try_from(n).unwrap_or(i64::MAX))
            .fetch_all(&mut *conn)
            .await?
    };
    let events = event_writes(key, old, decision, prepared, &ids)?;
    let mut b = QueryBuilder::<Postgres>::new("WITH u AS (");
    push_update(&mut b, old, decision, prepared);
    b.push(" RETURNING id), ");
    if !events.is_empty() {
        b.push("e AS (INSERT INTO dossier_events (id, dossier_id, at, actor, action, from_status, to_status, public_note, step, \
                actor_name, actor_title, unit, details, hash) SELECT v.id, u.id, v.at, ");
        b.push_bind(decision.actor.id.clone());
        b.push(", v.action, v.from_status, v.to_status, v.note, v.step, ");
        b.push_bind(decision.actor.name.clone());
        b.push(", ");
        b.push_bind(decision.actor.title.clone());
        b.push(", ");
        b.push_bind(decision.next.unit.clone());
        b.push(", v.details, v.hash FROM u, (VALUES ");
        for (i, e) in events.iter().enumerate() {
            let ev = e.event;
            b.push(if i == 0 { "(" } else { ", (" });
            let mut s = b.separated(", ");
            s.push_bind(e.id)
                .push_bind(ev.at)
                .push_bind(ev.kind.name())
                .push_bind(ev.from.map(DossierStatus::as_str))
                .push_bind(ev.to.as_str())
                .push_bind(e.note)
                .push_bind(e.step)
                .push_bind(e.details)
                .push_bind(e.hash);
            b.push(")");
        }
        b.push(") AS v (id, at, action, from_status, to_status, note, step, details, hash) RETURNING id, action, at), ");
        // Each event's webhook deliveries.
        for (i, e) in events.iter().enumerate() {
            b.push(format!(
                "w{i} AS (INSERT INTO deliveries (webhook_id, dossier_id, event_id, created_at, next_attempt_at) \
                 SELECT w.id, u.id, "
            ));
            b.push_bind(e.id);
            b.push(", ");
            b.push_bind(e.event.at);
            b.push(", ");
            b.push_bind(e.event.at);
            b.push(" FROM u, webhooks w");
            push_webhooks_wanting!(b, e.event.kind.name(), old.agency_code);
            b.push(" AND EXISTS (SELECT 1 FROM e)), ");
        }
        b.push("au AS (INSERT INTO audit_pending (at, actor, ip, action, subject, from_state, to_state, reason, event_id, \
                event_hash, mac) SELECT v.* FROM u, (VALUES ");
        for (i, e) in events.iter().enumerate() {
            b.push(if i == 0 { "(" } else { ", (" });
            push_audit_values(&mut b, old, decision, e);
            b.push(")");
        }
        b.push(") AS v (at, actor, ip, action, subject, from_state, to_state, reason, event_id, event_hash, mac)), ");
    }
    push_rest(&mut b, old, decision, prepared.updated_at, &events, true);
    b.push("q AS (INSERT INTO stat_queue (dossier_id) SELECT id FROM u ON CONFLICT DO NOTHING) SELECT ");
    b.push(if decision.mail.is_some() {
        "(SELECT id FROM o)"
    } else {
        "CAST(NULL AS BIGINT)"
    });
    b.push(", (SELECT count(*) FROM u)");
    if matches!(decision.payment, Some(PaymentWrite::Update { .. })) {
        // Rolls the whole statement back when the dossier was updated and the payment was not.
        b.push(
            ", 1 / CASE WHEN EXISTS (SELECT 1 FROM u) THEN (SELECT count(*) FROM pu) ELSE 1 END",
        );
    } else {
        b.push(", 1");
    }
    let r = b.build().fetch_one(&mut *conn).await;
    let row = match r {
        Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("22012") => {
            return Err(StoreError::Conflict(PAYMENT_CONFLICT.into()));
        }
        r => r?,
    };
    let updated: i64 = row.try_get(1)?;
    if updated != 1 {
        return Err(StoreError::Conflict(CONFLICT.into()));
    }
    Ok(row.try_get(0)?)
}
