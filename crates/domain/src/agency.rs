//! Agency electronic identifiers and the agency tree.
//!
//! QĐ 20/2020/QĐ-TTg: an agency code has at most 35 characters, in groups separated by dots, using
//! only `.`, digits and upper-case letters A–Z. Two layouts are in use (`000.00.00.H49` per
//! TT 10/2016/TT-BTTTT, and the newer `H27.01`); both are accepted, and the tree has any depth,
//! because Vietnam's local government changed shape on 1 July 2025 and may change again.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AgencyCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgencyCodeError {
    #[error("Mã cơ quan không được để trống.")]
    Empty,
    #[error("Mã cơ quan dài tối đa 35 ký tự.")]
    TooLong,
    #[error(
        "Mã cơ quan chỉ gồm chữ in hoa A–Z, chữ số và dấu chấm, không bắt đầu hay kết thúc bằng dấu chấm."
    )]
    BadCharacters,
}

impl AgencyCode {
    pub fn parse(s: &str) -> Result<Self, AgencyCodeError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(AgencyCodeError::Empty);
        }
        if s.len() > 35 {
            return Err(AgencyCodeError::TooLong);
        }
        let ok_chars = s
            .chars()
            .all(|c| c == '.' || c.is_ascii_digit() || c.is_ascii_uppercase());
        let ok_groups = s.split('.').all(|g| !g.is_empty());
        if !ok_chars || !ok_groups {
            return Err(AgencyCodeError::BadCharacters);
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AgencyCode {
    type Error = AgencyCodeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<AgencyCode> for String {
    fn from(value: AgencyCode) -> Self {
        value.0
    }
}

impl fmt::Display for AgencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One agency (cơ quan, đơn vị) in the tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agency {
    pub code: AgencyCode,
    pub name: String,
    /// Parent agency; `None` for a root (a province, a ministry).
    #[serde(default)]
    pub parent: Option<AgencyCode>,
    /// What kind of unit this is, used to find who implements a procedure: `tinh`, `xa`, `so`, ...
    pub kind: String,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Office hours shown to citizens, e.g. "Sáng 7:30–11:30, chiều 13:30–17:00, thứ Hai đến thứ Sáu".
    #[serde(default)]
    pub office_hours: Option<String>,
    /// Working days of the week (1 = Monday … 7 = Sunday); empty means Monday to Friday.
    #[serde(default)]
    pub working_weekdays: Vec<u8>,
    /// True when the code is an illustrative sample, not an officially issued identifier.
    #[serde(default)]
    pub sample: bool,
    /// Codes this agency used before a merger; dossiers filed under them stay valid.
    #[serde(default)]
    pub former_codes: Vec<AgencyCode>,
}

impl Agency {
    /// The agency's working week (Monday to Friday unless it says otherwise).
    pub fn work_week(&self) -> crate::calendar::WorkWeek {
        crate::calendar::WorkWeek::from_iso_days(&self.working_weekdays)
    }
}

/// The path from the root down to `code`, inclusive; empty if `code` is unknown.
/// Works for any depth and stops on cycles.
pub fn ancestry<'a>(agencies: &'a [Agency], code: &AgencyCode) -> Vec<&'a Agency> {
    let mut path = Vec::new();
    let mut current = agencies.iter().find(|a| &a.code == code);
    while let Some(a) = current {
        if path.iter().any(|p: &&Agency| p.code == a.code) {
            break;
        }
        path.push(a);
        current = a
            .parent
            .as_ref()
            .and_then(|p| agencies.iter().find(|x| &x.code == p));
    }
    path.reverse();
    path
}

/// `code` and every agency below it (any depth), `code` first; just `code` when it has no
/// sub-units. Stops on cycles.
pub fn subtree(agencies: &[Agency], code: &AgencyCode) -> Vec<AgencyCode> {
    let mut out = vec![code.clone()];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i].clone();
        for a in agencies
            .iter()
            .filter(|a| a.parent.as_ref() == Some(&parent))
        {
            if !out.contains(&a.code) {
                out.push(a.code.clone());
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_layouts() {
        assert!(AgencyCode::parse("000.00.00.H49").is_ok());
        assert!(AgencyCode::parse("H27.01").is_ok());
        assert_eq!(AgencyCode::parse(""), Err(AgencyCodeError::Empty));
        assert_eq!(
            AgencyCode::parse("h49"),
            Err(AgencyCodeError::BadCharacters)
        );
        assert_eq!(
            AgencyCode::parse("H49..01"),
            Err(AgencyCodeError::BadCharacters)
        );
        assert_eq!(
            AgencyCode::parse(".H49"),
            Err(AgencyCodeError::BadCharacters)
        );
        assert_eq!(
            AgencyCode::parse(&"1".repeat(36)),
            Err(AgencyCodeError::TooLong)
        );
    }
}
