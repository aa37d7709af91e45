//! The deliveries worker: sends what the deliveries outbox holds — partners' webhooks and the
//! national portal's synchronisation — in the background, so that a slow or failing receiver
//! never slows the portal.
//!
//! Each delivery is claimed with a lease, sent with a timeout (`DVC_DELIVERY_TIMEOUT_SECS`) and
//! marked delivered on a 2xx (a webhook) or an `error_code` 0 (the national portal); otherwise it
//! is retried with exponential backoff (from [`RETRY_BASE`] up to one hour between attempts) for
//! [`GIVE_UP_AFTER_MS`] (three days), then left for an administrator ("gửi lại"). Only the
//! oldest pending delivery of a (receiver, dossier) is ever claimed, so a receiver gets a
//! dossier's events in order. At least once: a crash between sending and recording sends the
//! same event again, with the same `DVC-Event-Id`.

use crate::integrations::national::{Change, Fees, National};
use crate::integrations::{EventItem, attachment_link_path, check_destination, webhook_secret};
use crate::store::partners::{self, DeliveryJob};
use crate::store::{StoreResult, dossiers, payments};
use crate::web::AppState;
use dvc_domain::dossier::Action;
use dvc_domain::fees::{FeeLine, PaymentTiming};
use dvc_domain::integration::fee_owed;
use dvc_domain::payment::PaymentStatus;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Delay before the first retry; doubled after each failure, at most one hour.
pub const RETRY_BASE: Duration = Duration::from_secs(5);

/// Failed deliveries are retried for this long (three days), then given up.
pub const GIVE_UP_AFTER_MS: i64 = 3 * 24 * 3600 * 1000;

/// Deliveries sent at the same time by one node.
const PARALLEL: usize = 32;

/// How many sending slots a busy worker waits for before it claims again: a claim under load
/// takes this many deliveries (each claim costs PostgreSQL ~0.5 ms of planning and scanning;
/// measured in the bench's API phase: ~19 deliveries a claim, against ~7 when it claimed as soon
/// as one slot freed).
const REFILL: u32 = (PARALLEL * 3 / 4) as u32;

/// How often a claim looks at the whole queue rather than past the last claimed id.
const SWEEP_EVERY: Duration = Duration::from_secs(2);

/// How far before the largest id claimed a claim starts (see [`Deliverer::run`]).
const LOOK_BACK: i64 = 256;

/// After a wake-up, how long the worker lets more events arrive before claiming.
const GATHER: Duration = Duration::from_millis(50);

pub fn backoff(attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    RETRY_BASE
        .saturating_mul(2u32.saturating_pow(exp))
        .min(Duration::from_secs(3600))
}

pub struct Deliverer {
    state: AppState,
    national: Option<Arc<National>>,
    /// For receivers allowed without checks (`DVC_WEBHOOK_ALLOW_INSECURE=true`).
    client: reqwest::Client,
    timeout: Duration,
}

#[derive(Debug)]
struct Failure {
    status: Option<i64>,
    message: String,
}

impl Deliverer {
    pub fn new(state: AppState, national: Option<Arc<National>>) -> anyhow::Result<Deliverer> {
        crate::files::install_tls_provider();
        let timeout = Duration::from_secs(state.config.delivery_timeout_secs.max(1));
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Deliverer {
            state,
            national,
            client,
            timeout,
        })
    }

    /// How long a claimed delivery is reserved: longer than one attempt can take (connect, then
    /// request, each bounded by the timeout). A node killed mid-delivery leaves it to be retried
    /// once this has passed.
    fn lease_ms(&self) -> i64 {
        i64::try_from(self.timeout.as_millis()).unwrap_or(10_000) * 2 + 5_000
    }

    /// Runs forever: claims what is due (as many as free sending slots), sends each in its own
    /// task, and sleeps until woken or for half a second when there is nothing to do.
    pub async fn run(self) {
        let this = Arc::new(self);
        let slots = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
        let (marks, pending) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(record_delivered(this.state.clone(), pending));
        // The largest id claimed: claims start LOOK_BACK ids before it (events of concurrent
        // filings commit out of id order); every SWEEP_EVERY a claim looks at the whole queue
        // again, for retries that fell due, a late commit further back and other nodes' events,
        // and goes on doing so while it finds a full batch. (Looking at the whole queue whenever
        // a claim past the mark found nothing made every other claim one: on PostgreSQL ~2,000
        // buffers each, the delivered rows' index entries that autovacuum had not removed yet.)
        let mut after = 0i64;
        let mut swept = std::time::Instant::now();
        let mut full = true;
        loop {
            let free = slots.available_permits();
            let mut claimed = 0;
            if free > 0 {
                if swept.elapsed() >= SWEEP_EVERY {
                    full = true;
                }
                match partners::claim_deliveries(
                    &this.state.light,
                    this.state.clock.now_ms(),
                    this.lease_ms(),
                    i64::try_from(free).unwrap_or(1),
                    if full { 0 } else { (after - LOOK_BACK).max(0) },
                )
                .await
                {
                    Ok(jobs) => {
                        claimed = jobs.len();
                        let filled = claimed >= free;
                        if full {
                            swept = std::time::Instant::now();
                        }
                        after = jobs.iter().map(|j| j.id).fold(after, i64::max);
                        full = full && filled;
                        // The webhooks' event bodies, read together.
                        let mut events = this.events(&jobs).await;
                        for job in jobs {
                            let Ok(permit) = slots.clone().acquire_owned().await else {
                                return;
                            };
                            let this = this.clone();
                            let event = events.remove(&job.event_id);
                            let marks = marks.clone();
                            tokio::spawn(async move {
                                this.deliver(job, event, &marks).await;
                                drop(permit);
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "deliveries: claim failed"),
                }
            }
            if free == 0 || (claimed > 0 && claimed >= free) {
                // Busy (every free slot got a delivery): claim again once REFILL sending slots
                // are free, for several deliveries at once.
                if let Ok(permits) = slots.clone().acquire_many_owned(REFILL).await {
                    drop(permits);
                }
            } else {
                // Nothing more was due: wait for new events and let those of a busy moment
                // gather, one claim for many. (Claiming again at once, or as soon as one slot
                // freed, made most claims one or two deliveries each, and each claim is planned
                // and run: ~0.5 ms of PostgreSQL's time.)
                tokio::select! {
                    _ = this.state.deliveries.notified() => {
                        tokio::time::sleep(GATHER).await;
                    }
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    }

    /// The bodies of the webhook deliveries among `jobs`, by event id (an event missing here
    /// fails its delivery, which is retried).
    async fn events(&self, jobs: &[DeliveryJob]) -> HashMap<i64, EventItem> {
        let ids: Vec<i64> = jobs
            .iter()
            .filter(|j| j.target == "webhook")
            .map(|j| j.event_id)
            .collect();
        match partners::feed_events(&self.state.db, &ids).await {
            Ok(rows) => rows.iter().map(|r| (r.id, EventItem::from(r))).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "deliveries: events not read");
                HashMap::new()
            }
        }
    }

    /// Sends one claimed delivery and records the outcome (a success through `marks`, recorded
    /// with the others that went through at the same time).
    async fn deliver(&self, job: DeliveryJob, event: Option<EventItem>, marks: &Marks) {
        let outcome = match job.target.as_str() {
            "webhook" => match event {
                Some(item) => self.send_webhook(&job, item).await,
                None => Err(Failure {
                    status: None,
                    message: "event not found".into(),
                }),
            },
            "dvcqg" => self.send_national(&job).await,
            other => Err(Failure {
                status: None,
                message: format!("unknown target {other}"),
            }),
        };
        let now = self.state.clock.now_ms();
        let db = &self.state.light;
        let recorded = match outcome {
            Ok(status) => {
                tracing::info!(
                    delivery = job.id,
                    event = job.event_id,
                    target = %job.target,
                    "delivered"
                );
                if job.target == "dvcqg"
                    && let Err(e) = partners::set_synced(&self.state.db, job.dossier_id, now).await
                {
                    tracing::warn!(error = %e, "synced_at not recorded");
                }
                if marks.send((job.id, status)).is_ok() {
                    return;
                }
                partners::mark_delivered(db, &[(job.id, status)], now).await
            }
            Err(f) => {
                let give_up = now - job.created_at >= GIVE_UP_AFTER_MS;
                let delay = backoff(job.attempts);
                let next = now + i64::try_from(delay.as_millis()).unwrap_or(3_600_000);
                tracing::warn!(
                    delivery = job.id,
                    event = job.event_id,
                    target = %job.target,
                    attempts = job.attempts,
                    give_up,
                    error = %f.message,
                    "delivery failed"
                );
                partners::mark_failed(db, job.id, next, f.status, &f.message, give_up, now).await
            }
        };
        if let Err(e) = recorded {
            // The lease runs out and the delivery is tried again: at least once.
            tracing::warn!(error = %e, delivery = job.id, "delivery outcome not recorded");
        }
    }

    async fn send_webhook(&self, job: &DeliveryJob, item: EventItem) -> Result<i64, Failure> {
        let body = serde_json::to_vec(&item).map_err(|e| Failure {
            status: None,
            message: e.to_string(),
        })?;
        let insecure = self.state.config.webhook_allow_insecure;
        // Checked again at each delivery (SSRF): the address the name resolves to now, and the
        // connection goes to that address.
        let dest = check_destination(&job.url, insecure)
            .await
            .map_err(|e| Failure {
                status: None,
                message: e.to_string(),
            })?;
        let client = if insecure {
            self.client.clone()
        } else {
            let mut b = reqwest::Client::builder()
                .timeout(self.timeout)
                .connect_timeout(self.timeout)
                .redirect(reqwest::redirect::Policy::none());
            b = b.resolve_to_addrs(&dest.host, &dest.addrs);
            b.build().map_err(|e| Failure {
                status: None,
                message: e.to_string(),
            })?
        };
        let secret = webhook_secret(&self.state.audit_key, &job.secret_salt);
        let t = self.state.clock.now_ms().div_euclid(1000);
        let signature = dvc_domain::integration::webhook_signature(&secret, t, &body);
        let resp = client
            .post(dest.url.clone())
            .header("content-type", "application/json")
            .header("user-agent", "dichvucong-webhooks/1")
            .header("dvc-event-id", &item.id)
            .header("dvc-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| Failure {
                status: None,
                message: e.without_url().to_string(),
            })?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            Ok(i64::from(status))
        } else {
            Err(Failure {
                status: Some(i64::from(status)),
                message: format!("HTTP {status}"),
            })
        }
    }

    async fn send_national(&self, job: &DeliveryJob) -> Result<i64, Failure> {
        let Some(national) = &self.national else {
            return Err(Failure {
                status: None,
                message: "DVC_DVCQG_URL chưa được cấu hình".into(),
            });
        };
        let db = &self.state.db;
        let change = async {
            let code = partners::dossier_code(db, job.dossier_id).await?;
            let row = match code {
                Some(c) => dossiers::find_by_code(db, &c).await?,
                None => None,
            };
            let events = dossiers::events(db, job.dossier_id).await?;
            let attachments = dossiers::attachments(db, job.dossier_id).await?;
            let channel = partners::channel(db, job.dossier_id).await?;
            let (synced_at, _) = partners::sync_state(db, job.dossier_id).await?;
            let national_code = partners::national_code(db, job.dossier_id).await?;
            let payments = payments::for_dossier(db, job.dossier_id).await?;
            StoreResult::Ok((
                row,
                events,
                attachments,
                channel,
                synced_at,
                national_code,
                payments,
            ))
        }
        .await
        .map_err(store_failure)?;
        let (Some(row), events, attachments, channel, synced_at, national_code, payments) = change
        else {
            return Err(Failure {
                status: None,
                message: "dossier not found".into(),
            });
        };
        let Some(event) = events.iter().find(|e| e.id == job.event_id) else {
            return Err(Failure {
                status: None,
                message: "event not found".into(),
            });
        };
        let catalog = self.state.catalog();
        let procedure = catalog.procedure(&row.procedure_code);
        let agency_name = catalog
            .agency(&row.agency_code)
            .map(|a| a.name.clone())
            .unwrap_or_default();
        // Each file with a signed, expiring link the national portal downloads it from.
        let now = self.state.clock.now_ms();
        let expires =
            now.div_euclid(1000) + i64::from(national.mapping.attachment_link_days) * 24 * 3600;
        let base = self.state.config.base_url();
        let attachments: Vec<_> = attachments
            .into_iter()
            .map(|a| {
                let link = format!(
                    "{base}{}",
                    attachment_link_path(&self.state.audit_key, row.id, a.id, expires)
                );
                (a, link)
            })
            .collect();
        // The fee as computed at filing, and whether (and how) it was paid.
        let lines: Vec<FeeLine> = row
            .fee_quote
            .as_deref()
            .and_then(|q| serde_json::from_str(q).ok())
            .unwrap_or_default();
        let paid = payments.iter().find(|p| p.status() == PaymentStatus::Paid);
        let at_filing = events.iter().any(|e| e.to_status == "awaiting_payment")
            || procedure
                .as_ref()
                .is_some_and(|p| p.payment == PaymentTiming::AtFiling);
        let payable_online = row.payment_status.is_some();
        let paid_by_event = events
            .iter()
            .any(|e| e.id <= event.id && e.action == Action::Pay.as_str());
        let c = Change {
            dossier: &row,
            channel,
            event,
            attachments: &attachments,
            procedure_name: procedure.as_ref().map(|p| p.name.as_str()).unwrap_or(""),
            field_name: procedure.as_ref().map(|p| p.field.as_str()).unwrap_or(""),
            agency_name: &agency_name,
            first: synced_at.is_none(),
            national_code: national_code.as_deref(),
            fees: Fees {
                lines: &lines,
                payable_online,
                at_filing,
                paid,
                owed_at_event: fee_owed(row.fee_vnd, payable_online, paid_by_event),
            },
        };
        let pushed = national.push(&c).await.map_err(|e| Failure {
            status: e.status(),
            message: e.to_string(),
        })?;
        if national_code.is_none()
            && let Some(code) = pushed.national_code
            && let Err(e) = partners::record_national_code(db, row.id, &code, now).await
        {
            tracing::warn!(error = %e, "national code not recorded");
        }
        Ok(200)
    }
}

/// Where delivered deliveries are reported, `(id, HTTP status)`.
type Marks = tokio::sync::mpsc::UnboundedSender<(i64, i64)>;

/// Records the deliveries that went through, all those reported meanwhile in one statement. A
/// delivery not recorded (the node stops first) is sent again once its lease ends: at least
/// once, as before.
async fn record_delivered(
    state: AppState,
    mut pending: tokio::sync::mpsc::UnboundedReceiver<(i64, i64)>,
) {
    let mut batch = Vec::new();
    while pending.recv_many(&mut batch, 1000).await > 0 {
        let now = state.clock.now_ms();
        if let Err(e) = partners::mark_delivered(&state.light, &batch, now).await {
            tracing::warn!(error = %e, deliveries = batch.len(), "delivery outcomes not recorded");
        }
        batch.clear();
        // The next delivery of those dossiers may go now.
        state.deliveries.notify_one();
    }
}

fn store_failure(e: crate::store::StoreError) -> Failure {
    Failure {
        status: None,
        message: e.to_string(),
    }
}
