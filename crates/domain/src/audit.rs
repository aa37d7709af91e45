//! The audit trail's hash chain: each entry's hash covers its fields and the previous entry's
//! hash, so changing or removing any row breaks the chain from that point on.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash that precedes the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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
}

impl Entry {
    /// SHA-256 (hex) of the previous hash and every field, length-prefixed so that no two
    /// different entries serialise alike.
    pub fn hash(&self, prev_hash: &str) -> String {
        let mut h = Sha256::new();
        let mut put = |s: &str| {
            h.update((s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        };
        put(prev_hash);
        put(&self.seq.to_string());
        put(&self.at.to_string());
        put(&self.actor);
        put(&self.ip);
        put(&self.action);
        put(&self.subject);
        put(self.from_state.as_deref().unwrap_or("\u{0}"));
        put(self.to_state.as_deref().unwrap_or("\u{0}"));
        put(self.reason.as_deref().unwrap_or("\u{0}"));
        hex::encode(h.finalize())
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
}

/// Verifies a chain given in order; returns the number of entries checked, or the first fault.
pub fn verify<'a>(entries: impl IntoIterator<Item = &'a Stored>) -> Result<u64, ChainError> {
    let mut prev = GENESIS.to_string();
    let mut n = 0;
    for (expected, s) in (1i64..).zip(entries) {
        if s.entry.seq != expected {
            return Err(ChainError::Gap {
                seq: s.entry.seq,
                expected,
            });
        }
        if s.prev_hash != prev {
            return Err(ChainError::Broken { seq: s.entry.seq });
        }
        if s.entry.hash(&s.prev_hash) != s.hash {
            return Err(ChainError::Tampered { seq: s.entry.seq });
        }
        prev = s.hash.clone();
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<Stored> {
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
                };
                let hash = entry.hash(&prev);
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
        assert_eq!(verify(&chain(5)), Ok(5));
    }

    #[test]
    fn tampering_is_found() {
        let mut c = chain(5);
        c[2].entry.reason = Some("sửa".into());
        assert_eq!(verify(&c), Err(ChainError::Tampered { seq: 3 }));
    }

    #[test]
    fn removal_is_found() {
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(
            verify(&c),
            Err(ChainError::Gap {
                seq: 3,
                expected: 2
            })
        );
    }
}
