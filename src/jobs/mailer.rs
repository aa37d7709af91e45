//! The outbox worker: claims e-mails written by business transactions and sends them over SMTP
//! (lettre), or writes them as `.eml` files when no SMTP server is configured.
//!
//! A dead SMTP server delays mail and never loses it: a failed send is retried with exponential
//! backoff (capped at one hour), forever. A message is marked sent right after the server accepts
//! it, so it is not sent twice in normal operation (a crash between the two steps can resend it,
//! with the same Message-ID so mail clients can drop the copy).

use crate::store::{Db, outbox};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncFileTransport, AsyncTransport, Tokio1Executor};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

impl Transport {
    pub fn from_config(
        smtp_url: Option<&str>,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<Transport> {
        match smtp_url {
            Some(url) => {
                let t = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| anyhow::anyhow!("DVC_SMTP_URL không hợp lệ: {e}"))?
                    .timeout(Some(Duration::from_secs(20)))
                    .build();
                Ok(Transport::Smtp(t))
            }
            None => {
                let dir = data_dir.join("mail");
                std::fs::create_dir_all(&dir)?;
                Ok(Transport::Files(
                    AsyncFileTransport::<Tokio1Executor>::new(&dir),
                    dir,
                ))
            }
        }
    }

    async fn send(&self, message: Message) -> anyhow::Result<()> {
        match self {
            Transport::Smtp(t) => {
                t.send(message).await?;
            }
            Transport::Files(t, dir) => {
                let id = t.send(message).await?;
                tracing::info!(file = %dir.join(format!("{id}.eml")).display(), "e-mail written to a file (no DVC_SMTP_URL set)");
            }
        }
        Ok(())
    }
}

/// How the web handlers tell this node's worker that mail was queued: with the new message's id
/// ([`MailQueue::queued`]), which the worker claims by primary key, or without
/// ([`MailQueue::wake`]), which makes it sweep the whole queue.
///
/// Why ids: on PostgreSQL every message leaves dead "pending" row versions behind it (insert,
/// claim, sent) until autovacuum passes, and a sweep visits all of them — measured 1,500 buffer
/// reads per claim after a few thousand e-mails, ~18 % of the database time of a submission. A
/// claim by id touches only its own rows. The sweep still runs every [`SWEEP_EVERY`] while
/// hints flow (and whenever the worker wakes without any), so retries, messages queued by other
/// nodes and messages left by a crashed node are all picked up.
#[derive(Default)]
pub struct MailQueue {
    notify: Notify,
    hinted: Mutex<Vec<i64>>,
    sweep: AtomicBool,
}

impl MailQueue {
    /// Mail was queued (ids unknown): sweep the queue soon.
    pub fn wake(&self) {
        self.sweep.store(true, Ordering::Relaxed);
        self.notify.notify_one();
    }

    /// The message with this outbox id was just queued.
    pub fn queued(&self, id: i64) {
        match self.hinted.lock() {
            Ok(mut h) => h.push(id),
            Err(p) => p.into_inner().push(id),
        }
        self.notify.notify_one();
    }

    fn take_hints(&self) -> Vec<i64> {
        match self.hinted.lock() {
            Ok(mut h) => std::mem::take(&mut *h),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
    }
}

pub struct Mailer {
    pub db: Db,
    pub transport: Transport,
    pub from: Mailbox,
    pub queue: Arc<MailQueue>,
    /// Base of the retry backoff.
    pub backoff_base: Duration,
    /// The node's clock (leases and retry times).
    pub clock: crate::clock::Clock,
}

/// Delay before retry number `attempts` (1-based): base × 2^(attempts−1), at most one hour.
pub fn backoff(base: Duration, attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    base.saturating_mul(2u32.saturating_pow(exp))
        .min(Duration::from_secs(3600))
}

/// Messages claimed at once.
const BATCH: i64 = 32;

/// Messages of a batch sent at the same time (lettre's SMTP pool keeps up to 10 connections).
const PARALLEL_SENDS: usize = 8;

/// How long a claimed message is reserved for the worker that claimed it.
const LEASE_MS: i64 = 120_000;

/// After a wake-up, how long the worker lets more messages arrive before claiming: on a busy
/// portal the confirmations of many filings then go out as one batch (one claim and one "sent"
/// update for all of them) instead of one batch per filing. A citizen's e-mail leaves at most
/// this much later than it would alone.
const GATHER: Duration = Duration::from_millis(100);

/// While new messages arrive by id, the whole queue is still swept this often.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

impl Mailer {
    /// Runs forever: sends the messages it was told about and, when woken without ids, every
    /// few seconds and at least every [`SWEEP_EVERY`], every due message; then sleeps until woken
    /// or for two seconds.
    pub async fn run(self) {
        let mut last_sweep: Option<Instant> = None;
        loop {
            let hinted = self.queue.take_hints();
            let asked = self.queue.sweep.swap(false, Ordering::Relaxed);
            if !hinted.is_empty()
                && let Err(e) = self.send_hinted(&hinted).await
            {
                tracing::warn!(error = %e, "outbox worker error");
            }
            if asked || hinted.is_empty() || last_sweep.is_none_or(|t| t.elapsed() >= SWEEP_EVERY) {
                last_sweep = Some(Instant::now());
                if let Err(e) = self.send_due().await {
                    tracing::warn!(error = %e, "outbox worker error");
                }
            }
            tokio::select! {
                _ = self.queue.notify.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
            tokio::time::sleep(GATHER).await;
        }
    }

    /// Sends the messages with these ids that are still due (claimed by primary key).
    pub async fn send_hinted(&self, ids: &[i64]) -> anyhow::Result<usize> {
        let mut sent_total = 0;
        for chunk in ids.chunks(usize::try_from(BATCH).unwrap_or(32)) {
            let batch = outbox::claim_ids(&self.db, chunk, self.clock.now_ms(), LEASE_MS).await?;
            let (sent, server_down) = self.deliver(batch).await?;
            sent_total += sent;
            if server_down {
                break;
            }
        }
        Ok(sent_total)
    }

    /// Sends every message that is due now, in batches; returns how many were sent.
    ///
    /// A batch is claimed in one statement and recorded as sent in one statement, so a busy
    /// queue costs two database writes per batch rather than per message. A batch smaller than
    /// [`BATCH`] emptied the queue: the worker stops there instead of claiming again (a message
    /// queued meanwhile wakes it). Delivery is at least once: a crash between sending and
    /// recording may send a batch's e-mails again.
    pub async fn send_due(&self) -> anyhow::Result<usize> {
        let mut sent_total = 0;
        loop {
            let batch = outbox::claim_batch(&self.db, self.clock.now_ms(), LEASE_MS, BATCH).await?;
            if batch.is_empty() {
                return Ok(sent_total);
            }
            let drained = batch.len() < usize::try_from(BATCH).unwrap_or(usize::MAX);
            let (sent, server_down) = self.deliver(batch).await?;
            sent_total += sent;
            if server_down || drained {
                return Ok(sent_total);
            }
        }
    }

    /// Sends a claimed batch and records the outcome; returns how many were sent and whether
    /// the server looked down (the untried rest is given back).
    async fn deliver(&self, batch: Vec<outbox::OutboxMessage>) -> anyhow::Result<(usize, bool)> {
        let mut sent = Vec::with_capacity(batch.len());
        let mut untried = Vec::new();
        let mut server_down = false;
        // A few messages at a time, each on its own pooled SMTP connection: lettre waits for
        // the relay's delayed ACK after every message (~40 ms, Nagle), so one connection
        // alone carries ~20 messages a second.
        for chunk in batch.chunks(PARALLEL_SENDS) {
            if server_down {
                untried.extend(chunk.iter().map(|m| m.id));
                continue;
            }
            let results = futures_util::future::join_all(chunk.iter().map(|msg| async move {
                match self.build(msg) {
                    Ok(message) => (msg, Ok(self.transport.send(message).await)),
                    Err(e) => (msg, Err(e)),
                }
            }))
            .await;
            for (msg, result) in results {
                match result {
                    Ok(Ok(())) => {
                        tracing::info!(outbox_id = msg.id, "e-mail sent");
                        sent.push(msg.id);
                    }
                    Ok(Err(e)) => {
                        let delay = backoff(self.backoff_base, msg.attempts);
                        let next = self.clock.now_ms()
                            + i64::try_from(delay.as_millis()).unwrap_or(3_600_000);
                        tracing::warn!(outbox_id = msg.id, attempts = msg.attempts, retry_in_ms = delay.as_millis() as u64, error = %e, "e-mail not sent; will retry");
                        outbox::mark_failed(&self.db, msg.id, next, &e.to_string()).await?;
                        // The server is probably down: give the rest back and wait.
                        server_down = true;
                    }
                    Err(e) => {
                        // A message that cannot even be built (bad address) is parked for a
                        // day, not lost.
                        tracing::error!(outbox_id = msg.id, error = %e, "e-mail could not be built");
                        outbox::mark_failed(
                            &self.db,
                            msg.id,
                            self.clock.now_ms() + 86_400_000,
                            &e.to_string(),
                        )
                        .await?;
                    }
                }
            }
        }
        if !sent.is_empty() {
            outbox::mark_sent_many(&self.db, &sent, self.clock.now_ms()).await?;
        }
        if !untried.is_empty() {
            outbox::release(&self.db, &untried).await?;
        }
        Ok((sent.len(), server_down))
    }

    fn build(&self, msg: &outbox::OutboxMessage) -> anyhow::Result<Message> {
        let to: Mailbox = msg.recipient.parse()?;
        Ok(Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(msg.subject.clone())
            .message_id(Some(msg.message_id.clone()))
            .header(ContentType::TEXT_PLAIN)
            .body(msg.body_text.clone())?)
    }
}
