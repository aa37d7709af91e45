//! dichvucong: the online public-services portal.
//!
//! Layout (the architecture is the file tree):
//! - `dvc_domain` (crates/domain): the pure core — procedures, forms, dossier codes and workflow,
//!   the working-day calendar. No I/O.
//! - [`store`]: SQL repositories over SQLite (default, embedded) or PostgreSQL (several nodes).
//! - [`files`]: attachments and generated documents on local disk (object_store).
//! - [`catalog`]: the in-memory catalogue and its import from data files.
//! - [`calendar`]: the working-day calendar with the administrators' yearly decisions.
//! - [`clock`]: the time a node reads (the system clock; a manual one in the tests).
//! - [`jobs`]: the e-mail outbox worker, the deliveries worker (webhooks, national portal).
//! - [`oidc`]: citizen sign-in with OpenID Connect (the provider's side of it).
//! - [`integrations`]: partner events, webhook destinations and secrets, the national portal.
//! - [`scan`]: the antivirus scanner (ClamAV's daemon) every upload goes through.
//! - [`signing`]: the agency's digital signature on electronic results (`dvc_sign`, PAdES B-B).
//! - [`web`]: HTTP — citizen portal pages, JSON API, security middleware.
//! - [`cli`]: command-line subcommands besides `serve`.
//! - [`config`], [`error`]: settings and the single application error type.

pub mod accounts;
pub mod calendar;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
pub mod files;
pub mod integrations;
pub mod jobs;
pub mod notify;
pub mod oidc;
pub mod password;
pub mod scan;
pub mod signing;
pub mod store;
pub mod web;

/// Current time in milliseconds since the Unix epoch (the unit of every stored time), from the
/// system clock: for the command-line tools. A running node reads its [`clock::Clock`] instead.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Converts stored milliseconds to a timestamp; out-of-range values fall back to the epoch.
pub fn ts(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}
