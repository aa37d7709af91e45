//! Officials' roles and what each may do. Checked on every back-office action, on the server.

use crate::agency::{Agency, AgencyCode};
use crate::dossier::Action;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// One-stop desk officer (bộ phận một cửa): receives, asks for supplements, refuses, returns results.
    Reception,
    /// Specialist (chuyên viên thụ lý): processes and proposes a result.
    Specialist,
    /// Leader (lãnh đạo): approves or sends back.
    Leader,
    /// Administrator: manages staff; does not act on dossiers.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Reception, Role::Specialist, Role::Leader, Role::Admin];

    pub fn parse(s: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reception => "reception",
            Role::Specialist => "specialist",
            Role::Leader => "leader",
            Role::Admin => "admin",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Role::Reception => "Cán bộ Bộ phận Một cửa",
            Role::Specialist => "Chuyên viên thụ lý",
            Role::Leader => "Lãnh đạo",
            Role::Admin => "Quản trị hệ thống",
        }
    }

    /// Whether this role may perform `action` (the state machine decides whether it is legal now).
    pub fn may(self, action: Action) -> bool {
        use Action as A;
        match self {
            Role::Reception => matches!(
                action,
                A::Receive
                    | A::RequestSupplement
                    | A::Refuse
                    | A::Forward
                    | A::ReturnResult
                    | A::CollectFee
                    | A::ApologiseAndExtend
                    | A::ExtraTime
            ),
            Role::Specialist => matches!(
                action,
                A::Forward
                    | A::RequestSupplement
                    | A::SubmitForApproval
                    | A::Stop
                    | A::ApologiseAndExtend
                    | A::ExtraTime
            ),
            Role::Leader => matches!(
                action,
                A::Approve | A::SendBack | A::Forward | A::Stop | A::ApologiseAndExtend
            ),
            Role::Admin => false,
        }
    }

    /// Leaders and administrators also see the dossiers of their agency's sub-units.
    pub fn sees_sub_units(self) -> bool {
        matches!(self, Role::Leader | Role::Admin)
    }
}

/// The agencies whose dossiers an official of `agency` with `role` may see: their own, plus every
/// descendant (any depth) when the role allows.
pub fn visible_agencies(role: Role, agency: &AgencyCode, all: &[Agency]) -> Vec<AgencyCode> {
    let mut out = vec![agency.clone()];
    if role.sees_sub_units() {
        let mut i = 0;
        while i < out.len() {
            let parent = out[i].clone();
            for a in all.iter().filter(|a| a.parent.as_ref() == Some(&parent)) {
                if !out.contains(&a.code) {
                    out.push(a.code.clone());
                }
            }
            i += 1;
        }
    }
    out
}

/// Password policy (OWASP ASVS 6.2): at least 8 characters (15 recommended), at most 128, no
/// composition rules; a few of the most common passwords are refused.
pub fn check_password(password: &str) -> Result<(), &'static str> {
    let n = password.chars().count();
    if n < 8 {
        return Err(
            "Mật khẩu phải có ít nhất 8 ký tự (nên dùng từ 15 ký tự, ví dụ một câu dễ nhớ).",
        );
    }
    if n > 128 {
        return Err("Mật khẩu dài tối đa 128 ký tự.");
    }
    const COMMON: [&str; 12] = [
        "12345678",
        "123456789",
        "1234567890",
        "password",
        "password1",
        "qwertyui",
        "11111111",
        "00000000",
        "abc12345",
        "iloveyou",
        "matkhau123",
        "admin123",
    ];
    if COMMON.contains(&password.to_lowercase().as_str()) {
        return Err("Mật khẩu này quá phổ biến, dễ bị đoán. Hãy chọn mật khẩu khác.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_acts_on_no_dossier() {
        for a in [
            Action::Receive,
            Action::Approve,
            Action::Forward,
            Action::ReturnResult,
        ] {
            assert!(!Role::Admin.may(a));
        }
    }

    #[test]
    fn only_leaders_approve() {
        for r in Role::ALL {
            assert_eq!(r.may(Action::Approve), r == Role::Leader);
        }
    }

    #[test]
    fn passwords() {
        assert!(check_password("short").is_err());
        assert!(check_password("Password1").is_err());
        assert!(check_password("một câu rất dài dễ nhớ").is_ok());
    }
}
