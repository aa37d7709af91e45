//! The tamper-evident trail: a keyed hash chain over the audit entries, and one over each
//! dossier's timeline.
//!
//! Every hash is an HMAC-SHA-256 under a secret [`AuditKey`] that is not stored in the database,
//! so whoever can write the database cannot rewrite a chain so that it verifies again. Each audit
//! entry covers the previous entry's hash; each timeline event covers the previous event of its
//! dossier, and the dossier row keeps the hash of its last event (its head). An audit entry for a
//! transition also covers the hash of the timeline event it recorded, so removing the last event
//! of a dossier is caught too. Truncating the tail of the audit chain is caught by comparing with
//! a head recorded earlier (`audit verify --expect-head`).

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

/// The hash that precedes the first entry of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The secret the chains are keyed with (at least 32 bytes), ready to MAC.
#[derive(Clone)]
pub struct AuditKey(HmacSha256);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(…)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Khóa nhật ký kiểm toán phải dài ít nhất 32 byte (ví dụ 64 ký tự hex ngẫu nhiên).")]
pub struct WeakKey;

impl AuditKey {
    pub const MIN_LEN: usize = 32;

    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<AuditKey, WeakKey> {
        let bytes = bytes.into();
        if bytes.len() < Self::MIN_LEN {
            return Err(WeakKey);
        }
        <HmacSha256 as KeyInit>::new_from_slice(&bytes)
            .map(AuditKey)
            .map_err(|_| WeakKey)
    }

    /// HMAC-SHA-256 (hex) of `parts`, each length-prefixed so that no two different lists
    /// serialise alike; `None` is distinct from every string.
    pub fn mac<'a>(&self, parts: impl IntoIterator<Item = Option<&'a str>>) -> String {
        let mut m = self.0.clone();
        for p in parts {
            match p {
                Some(s) => {
                    m.update(&(s.len() as u64).to_be_bytes());
                    m.update(s.as_bytes());
                }
                None => m.update(&u64::MAX.to_be_bytes()),
            }
        }
        hex::encode(m.finalize().into_bytes())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: i64,
    /// UTC milliseconds.
    pub at: i64,
    pub actor: String,
    pub ip: String,
    pub action: String,
    pub subject: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub reason: Option<String>,
    /// The timeline event this entry records (its row id and hash), for transitions.
    pub event_id: Option<i64>,
    pub event_hash: Option<String>,
}

impl Entry {
    /// The entry's hash, chained on `prev_hash`.
    pub fn hash(&self, key: &AuditKey, prev_hash: &str) -> String {
        let seq = self.seq.to_string();
        let at = self.at.to_string();
        let event_id = self.event_id.map(|i| i.to_string());
        key.mac([
            Some(prev_hash),
            Some(&seq),
            Some(&at),
            Some(self.actor.as_str()),
            Some(self.ip.as_str()),
            Some(self.action.as_str()),
            Some(self.subject.as_str()),
            self.from_state.as_deref(),
            self.to_state.as_deref(),
            self.reason.as_deref(),
            event_id.as_deref(),
            self.event_hash.as_deref(),
        ])
    }
}

/// What a waiting entry's MAC is chained on: no real chain hash is this string, and a waiting
/// entry has sequence number 0, which no chained entry has.
pub const PENDING: &str = "pending";

impl Entry {
    /// The MAC of an entry waiting to be chained (recorded in the business transaction, chained
    /// moments later): its fields under the key, with sequence 0, so that a change made while it
    /// waits is caught when it is chained and by `audit verify`.
    pub fn pending_mac(&self, key: &AuditKey) -> String {
        let mut e = self.clone();
        e.seq = 0;
        e.hash(key, PENDING)
    }
}

/// A stored entry with its chain fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub entry: Entry,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("mục nhật ký số {seq}: nội dung đã bị thay đổi (mã băm không khớp)")]
    Tampered { seq: i64 },
    #[error("mục nhật ký số {seq}: không nối với mục trước (có mục bị xóa hoặc chèn)")]
    Broken { seq: i64 },
    #[error("mục nhật ký số {seq}: số thứ tự không liên tục (thiếu mục {expected})")]
    Gap { seq: i64, expected: i64 },
    #[error("mục nhật ký số {seq}: sự kiện {event_id} của hồ sơ {subject} đã bị xóa hoặc thay đổi")]
    EventMissing {
        seq: i64,
        event_id: i64,
        subject: String,
    },
    #[error("hồ sơ {code}: sự kiện {event_id} trên dòng thời gian đã bị thay đổi, chèn hoặc xóa")]
    Timeline { code: String, event_id: i64 },
    #[error("hồ sơ {code}: sự kiện cuối của dòng thời gian không khớp (có sự kiện bị xóa)")]
    TimelineHead { code: String },
    #[error(
        "nhật ký đã bị cắt hoặc viết lại sau mốc {seq}:{hash} đã ghi (mục {seq} không còn như cũ)"
    )]
    HeadMismatch { seq: i64, hash: String },
    #[error("mục nhật ký đang chờ nối chuỗi số {id}: nội dung đã bị thay đổi (mã băm không khớp)")]
    PendingTampered { id: i64 },
}

/// Verifies consecutive entries, continuing from `prev` (the hash before the first one) and
/// expecting the first to have sequence number `expected`. Returns the last hash.
pub fn verify_run<'a>(
    key: &AuditKey,
    mut prev: String,
    mut expected: i64,
    entries: impl IntoIterator<Item = &'a Stored>,
) -> Result<String, ChainError> {
    for s in entries {
        if s.entry.seq != expected {
            return Err(ChainError::Gap {
                seq: s.entry.seq,
                expected,
            });
        }
        if s.prev_hash != prev {
            return Err(ChainError::Broken { seq: s.entry.seq });
        }
        if s.entry.hash(key, &s.prev_hash) != s.hash {
            return Err(ChainError::Tampered { seq: s.entry.seq });
        }
        prev = s.hash.clone();
        expected += 1;
    }
    Ok(prev)
}

/// Verifies a whole chain given in order; returns the number of entries checked.
pub fn verify<'a>(
    key: &AuditKey,
    entries: impl IntoIterator<Item = &'a Stored> + Clone,
) -> Result<u64, ChainError> {
    verify_run(key, GENESIS.to_string(), 1, entries.clone())?;
    Ok(entries.into_iter().count() as u64)
}

/// One timeline event as stored, the fields its hash covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineFields<'a> {
    pub dossier_code: &'a str,
    pub at: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub from_status: Option<&'a str>,
    pub to_status: &'a str,
    pub public_note: Option<&'a str>,
    pub step: Option<i64>,
    pub actor_name: Option<&'a str>,
    pub actor_title: Option<&'a str>,
    pub unit: Option<&'a str>,
    pub details: Option<&'a str>,
}

impl TimelineFields<'_> {
    /// The event's hash, chained on the previous event of the same dossier (`GENESIS` for the
    /// first).
    pub fn hash(&self, key: &AuditKey, prev_hash: &str) -> String {
        let at = self.at.to_string();
        let step = self.step.map(|s| s.to_string());
        key.mac([
            Some(prev_hash),
            Some(self.dossier_code),
            Some(&at),
            Some(self.actor),
            Some(self.action),
            self.from_status,
            Some(self.to_status),
            self.public_note,
            step.as_deref(),
            self.actor_name,
            self.actor_title,
            self.unit,
            self.details,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AuditKey {
        AuditKey::new(vec![7u8; 32]).expect("key")
    }

    fn chain(key: &AuditKey, n: i64) -> Vec<Stored> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let entry = Entry {
                    seq,
                    at: 1000 + seq,
                    actor: "a@x".into(),
                    ip: "127.0.0.1".into(),
                    action: "receive".into(),
                    subject: format!("H-{seq}"),
                    from_state: Some("submitted".into()),
                    to_state: Some("received".into()),
                    reason: None,
                    event_id: Some(seq),
                    event_hash: Some("ab".into()),
                };
                let hash = entry.hash(key, &prev);
                let s = Stored {
                    entry,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                s
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify(&key(), &chain(&key(), 5)), Ok(5));
    }

    #[test]
    fn tampering_is_found() {
        let mut c = chain(&key(), 5);
        c[2].entry.reason = Some("sửa".into());
        assert_eq!(verify(&key(), &c), Err(ChainError::Tampered { seq: 3 }));
        let mut c = chain(&key(), 5);
        c[1].entry.event_hash = Some("cd".into());
        assert_eq!(verify(&key(), &c), Err(ChainError::Tampered { seq: 2 }));
    }

    #[test]
    fn a_waiting_entry_mac_ignores_its_sequence_and_catches_a_change() {
        let c = chain(&key(), 2);
        let mut e = c[1].entry.clone();
        let mac = e.pending_mac(&key());
        e.seq = 99;
        assert_eq!(e.pending_mac(&key()), mac);
        e.subject = "H-other".into();
        assert_ne!(e.pending_mac(&key()), mac);
        assert_ne!(
            c[1].entry
                .pending_mac(&AuditKey::new(vec![9u8; 32]).expect("key")),
            mac
        );
    }

    #[test]
    fn removal_is_found() {
        let mut c = chain(&key(), 5);
        c.remove(1);
        assert_eq!(
            verify(&key(), &c),
            Err(ChainError::Gap {
                seq: 3,
                expected: 2
            })
        );
    }

    #[test]
    fn a_chain_rehashed_with_another_key_fails() {
        let other = AuditKey::new(vec![8u8; 32]).expect("key");
        let forged = chain(&other, 3);
        assert_eq!(
            verify(&key(), &forged),
            Err(ChainError::Tampered { seq: 1 })
        );
    }

    #[test]
    fn short_keys_are_refused_and_none_differs_from_empty() {
        assert!(AuditKey::new(vec![1u8; 31]).is_err());
        let k = key();
        assert_ne!(k.mac([None]), k.mac([Some("")]));
        assert_ne!(
            k.mac([Some("ab"), Some("c")]),
            k.mac([Some("a"), Some("bc")])
        );
    }
}
