//! Payment steps that change a dossier, each one workflow decision recorded by
//! [`crate::store::dossiers::save`] with the payment row: starting an attempt (the citizen),
//! recording a verified outcome (the provider), the reconciliation job (`querydr` for attempts
//! left pending) and refunds of dossiers closed without a result.

use super::{Order, PaymentProvider, QueryOutcome, RefundOutcome};
use crate::store::StoreError;
use crate::store::dossiers::{self, Actor, DossierRow, OwnedDecision};
use crate::store::payments::{self, GatewayFields, NewPayment, PaymentRow, PaymentWrite};
use crate::web::AppState;
use crate::web::staff::dossier::{mail_for_event, rules_for};
use dvc_domain::payment::PaymentStatus;
use dvc_domain::workflow::{self, Actor as WorkflowActor, Command, PaymentFacts, Refusal};

/// How long the citizen has at the gateway (`vnp_ExpireDate`).
pub const PAY_WINDOW_MS: i64 = 15 * 60_000;

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("{0}")]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("không tìm thấy thủ tục hoặc hồ sơ")]
    Missing,
}

impl From<FlowError> for crate::error::AppError {
    fn from(e: FlowError) -> Self {
        match e {
            FlowError::Refused(r) => crate::web::staff::dossier::refusal(r),
            FlowError::Store(s) => s.into(),
            FlowError::Missing => crate::error::AppError::not_found(),
        }
    }
}

/// Whether the citizen may start (or retry) paying `row` now, with `attempts` its attempts
/// (newest first): a fee is payable online, nothing is paid or pending, and the dossier waits
/// for payment (fee at filing) or its result is ready (fee at the result).
pub fn may_start(row: crate::web::portal::payment::FeeFacts<'_>, attempts: &[PaymentRow]) -> bool {
    let Some(status) = row.payment_status.and_then(PaymentStatus::parse) else {
        return false;
    };
    // Paid at filing: while it waits for payment; paid at the result: once the result is ready.
    let open = matches!(row.status, "awaiting_payment" | "result_ready");
    row.fee_vnd > 0
        && open
        && status.can_retry()
        && !attempts
            .iter()
            .any(|p| matches!(p.status(), PaymentStatus::Paid | PaymentStatus::Pending))
}

fn facts(provider: &str, p: &PaymentRow, status: PaymentStatus, g: &GatewayFields) -> PaymentFacts {
    PaymentFacts {
        status,
        provider: provider.to_string(),
        txn_ref: p.txn_ref.clone(),
        amount_vnd: p.amount(),
        transaction_no: g.transaction_no.clone(),
        bank_code: g.bank_code.clone(),
        response_code: g.response_code.clone(),
    }
}

/// Decides `cmd` by `actor` on `row` and saves it with `write`, with the e-mail a confirmed
/// payment or refund sends the applicant (in the same transaction, through the outbox).
async fn record(
    state: &AppState,
    row: &DossierRow,
    cmd: Command,
    actor: WorkflowActor,
    who: Actor,
    write: PaymentWrite,
) -> Result<(), FlowError> {
    let decision = decide(state, row, cmd, actor, who, write)?;
    let mail_id = dossiers::save(&state.db, &state.audit_key, row, &decision.view()).await?;
    if let Some(id) = mail_id {
        state.mail.queued(id);
    }
    Ok(())
}

/// The decision [`record`] saves: `cmd` by `actor` on `row`, with `write` and the e-mail that
/// goes with it.
fn decide(
    state: &AppState,
    row: &DossierRow,
    cmd: Command,
    actor: WorkflowActor,
    who: Actor,
    write: PaymentWrite,
) -> Result<OwnedDecision, FlowError> {
    let catalog = state.catalog();
    let p = catalog
        .procedure(&row.procedure_code)
        .ok_or(FlowError::Missing)?;
    let policy = state.deadline_policy(catalog.agency(&row.agency_code), &p);
    let rules = rules_for(state, &catalog, row, &p, &policy);
    let now = state.clock.now_ms();
    let dossier = row.to_domain()?;
    let events = workflow::decide(&dossier, &cmd, actor, &rules, now)?;
    let next = events.iter().fold(dossier, |d, e| workflow::evolve(&d, e));
    let (mail, access_link) = match events
        .iter()
        .find_map(|e| mail_for_event(state, row, &p, rules.agency_name, &e.kind, &next))
    {
        Some((m, link)) => (Some(m), Some(link)),
        None => (None, None),
    };
    Ok(OwnedDecision {
        events,
        next,
        actor: who,
        mail,
        access_link,
        attachments: vec![],
        payment: Some(write),
    })
}

/// Starts an attempt to pay `row`'s fee with `provider` for the citizen at `ip`: records it as
/// pending and returns the address to send the citizen to.
pub async fn start(
    state: &AppState,
    provider: &dyn PaymentProvider,
    row: &DossierRow,
    ip: &str,
) -> Result<String, FlowError> {
    let (decision, url) = start_decision(state, provider, row, ip)?;
    let mail_id = dossiers::save(&state.db, &state.audit_key, row, &decision.view()).await?;
    if let Some(id) = mail_id {
        state.mail.queued(id);
    }
    Ok(url)
}

/// What [`start`] records (the attempt, pending), and the address to send the citizen to; also
/// recorded by a filing that owes its fee, in the filing's own transaction.
pub fn start_decision(
    state: &AppState,
    provider: &dyn PaymentProvider,
    row: &DossierRow,
    ip: &str,
) -> Result<(OwnedDecision, String), FlowError> {
    let now = state.clock.now_ms();
    let order = Order {
        txn_ref: super::new_txn_ref(),
        amount_vnd: u64::try_from(row.fee_vnd).unwrap_or(0),
        order_info: format!("Thanh toan phi le phi ho so {}", row.code),
        client_ip: ip.to_string(),
        created_at_ms: now,
        expire_at_ms: now + PAY_WINDOW_MS,
    };
    let url = provider.pay_url(&order);
    let new = NewPayment {
        provider: provider.name().to_string(),
        txn_ref: order.txn_ref.clone(),
        amount_vnd: row.fee_vnd,
        order_info: dvc_domain::payment::vnpay::order_info(&order.order_info),
        created_at: now,
        create_date: dvc_domain::payment::vnpay::vn_time(now),
        expire_at: order.expire_at_ms,
        client_ip: ip.to_string(),
    };
    let facts = PaymentFacts {
        status: PaymentStatus::Pending,
        provider: provider.name().to_string(),
        txn_ref: order.txn_ref.clone(),
        amount_vnd: order.amount_vnd,
        ..PaymentFacts::default()
    };
    let decision = decide(
        state,
        row,
        Command::RecordPayment { payment: facts },
        WorkflowActor::Citizen,
        Actor {
            id: "citizen".into(),
            name: Some("Công dân".into()),
            title: None,
            ip: ip.to_string(),
        },
        PaymentWrite::Start(new),
    )?;
    Ok((decision, url))
}

/// Records the outcome `to` of the pending attempt `p`, as reported by its provider in an answer
/// whose signature was verified. `via` names the answer (`ipn`, `querydr`, `refund`) in the
/// audit trail.
pub async fn record_outcome(
    state: &AppState,
    p: &PaymentRow,
    to: PaymentStatus,
    gateway: GatewayFields,
    via: &str,
) -> Result<(), FlowError> {
    let row = dossiers::find_by_id(&state.db, p.dossier_id)
        .await?
        .ok_or(FlowError::Missing)?;
    record_outcome_on(state, p, &row, to, gateway, via).await
}

/// [`record_outcome`] with the dossier `row` already read (with the payment).
pub async fn record_outcome_on(
    state: &AppState,
    p: &PaymentRow,
    row: &DossierRow,
    to: PaymentStatus,
    gateway: GatewayFields,
    via: &str,
) -> Result<(), FlowError> {
    let from = p.status();
    if !from.may_become(to) {
        return Err(StoreError::Conflict("Giao dịch thanh toán đã được ghi nhận.".into()).into());
    }
    record(
        state,
        row,
        Command::RecordPayment {
            payment: facts(&p.provider, p, to, &gateway),
        },
        WorkflowActor::Gateway,
        Actor {
            id: format!("gateway:{}:{via}", p.provider),
            name: Some(workflow::provider_name(&p.provider).to_string()),
            title: None,
            ip: String::new(),
        },
        PaymentWrite::Update {
            txn_ref: p.txn_ref.clone(),
            from,
            to,
            gateway,
        },
    )
    .await
}

/// The provider `name`, when it is the configured one.
pub fn provider<'a>(state: &'a AppState, name: &str) -> Option<&'a dyn PaymentProvider> {
    state
        .vnpay
        .as_deref()
        .filter(|v| v.name() == name)
        .map(|v| v as &dyn PaymentProvider)
}

/// One pass of the reconciliation job: asks the provider about attempts pending for longer than
/// the pay window (or not asked for that long), and records what a verified answer says; an
/// attempt the provider never saw, or still unfinished, past its deadline is expired. Returns
/// the number of attempts whose state changed.
pub async fn reconcile(state: &AppState) -> usize {
    let now = state.clock.now_ms();
    let mut changed = 0;
    let due = match payments::pending_to_check(&state.db, now - PAY_WINDOW_MS, 100).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "payment reconciliation: cannot read pending payments");
            return 0;
        }
    };
    for p in due {
        let Some(provider) = provider(state, &p.provider) else {
            continue;
        };
        let outcome = provider.query(&p, now).await;
        if let Err(e) = payments::mark_checked(&state.db, &p.txn_ref, now).await {
            tracing::warn!(error = %e, "payment reconciliation: cannot note the check");
        }
        let expired_by = p.expire_at + PAY_WINDOW_MS;
        let (to, g) = match outcome {
            Ok(QueryOutcome::Final(s, g)) => (s, g),
            Ok(QueryOutcome::NotFound | QueryOutcome::Pending) if now > expired_by => {
                (PaymentStatus::Expired, GatewayFields::default())
            }
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(txn_ref = %p.txn_ref, error = %e, "payment reconciliation: querydr failed");
                continue;
            }
        };
        if to == PaymentStatus::Refunded {
            continue;
        }
        match record_outcome(state, &p, to, g, "querydr").await {
            Ok(()) => {
                changed += 1;
                tracing::info!(txn_ref = %p.txn_ref, status = to.as_str(), "payment reconciled");
            }
            Err(e) => {
                tracing::warn!(txn_ref = %p.txn_ref, error = %e, "payment reconciliation: not recorded")
            }
        }
    }
    changed
}

/// Asks for the refund of every paid attempt of a dossier closed without a result (refused,
/// stopped, withdrawn) not asked for in the last hour; records the refunds the provider
/// confirms. Returns the number refunded.
pub async fn refund_closed(state: &AppState) -> usize {
    let now = state.clock.now_ms();
    let due = match payments::to_refund(&state.db, now - 3_600_000, 100).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "refunds: cannot read paid payments");
            return 0;
        }
    };
    let mut done = 0;
    for p in due {
        let Some(provider) = provider(state, &p.provider) else {
            continue;
        };
        if let Err(e) = payments::mark_refund_requested(&state.db, &p.txn_ref, now).await {
            tracing::warn!(error = %e, "refunds: cannot note the request");
            continue;
        }
        match provider.refund(&p, now, "He thong Cong DVC").await {
            Ok(RefundOutcome::Refunded(g)) => {
                match record_outcome(state, &p, PaymentStatus::Refunded, g, "refund").await {
                    Ok(()) => {
                        done += 1;
                        tracing::info!(txn_ref = %p.txn_ref, "payment refunded");
                    }
                    Err(e) => {
                        tracing::warn!(txn_ref = %p.txn_ref, error = %e, "refund not recorded")
                    }
                }
            }
            Ok(RefundOutcome::Refused(why)) => {
                tracing::warn!(txn_ref = %p.txn_ref, answer = %why, "refund refused by the provider")
            }
            Err(e) => tracing::warn!(txn_ref = %p.txn_ref, error = %e, "refund request failed"),
        }
    }
    done
}

/// [`refund_closed`] in the background, right after a paid dossier closed without a result.
pub fn refund_soon(state: AppState) {
    tokio::spawn(async move {
        refund_closed(&state).await;
    });
}

/// The reconciliation job: every minute, `querydr` for attempts left pending and refunds of
/// dossiers closed without a result.
pub async fn run_forever(state: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        reconcile(&state).await;
        refund_closed(&state).await;
    }
}
