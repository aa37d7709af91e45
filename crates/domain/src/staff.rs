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
    use crate::dossier::{DossierStatus, transition};

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

    /// Every (state, action) pair, decided as the workflow says: the legal moves below, and an
    /// `IllegalTransition` naming the pair for everything else.
    #[test]
    fn every_status_action_pair_is_decided() {
        use Action as A;
        use DossierStatus as S;
        const ACTIONS: [Action; 13] = [
            A::Receive,
            A::RequestSupplement,
            A::Supplement,
            A::Refuse,
            A::Forward,
            A::SubmitForApproval,
            A::Approve,
            A::SendBack,
            A::ReturnResult,
            A::Stop,
            A::Withdraw,
            A::ApologiseAndExtend,
            A::ExtraTime,
        ];
        let open_after_receipt = [
            S::Received,
            S::Processing,
            S::AwaitingSupplement,
            S::AwaitingApproval,
            S::ResultReady,
        ];
        let mut legal = vec![
            (S::Submitted, A::Receive, S::Received),
            (S::Submitted, A::RequestSupplement, S::AwaitingSupplement),
            (S::Submitted, A::Refuse, S::Refused),
            (S::Submitted, A::Withdraw, S::Withdrawn),
            (S::Received, A::Forward, S::Processing),
            (S::Processing, A::Forward, S::Processing),
            (S::Received, A::RequestSupplement, S::AwaitingSupplement),
            (S::Processing, A::RequestSupplement, S::AwaitingSupplement),
            (S::Received, A::SubmitForApproval, S::AwaitingApproval),
            (S::Processing, A::SubmitForApproval, S::AwaitingApproval),
            (S::AwaitingSupplement, A::Supplement, S::Processing),
            (S::AwaitingApproval, A::Approve, S::ResultReady),
            (S::AwaitingApproval, A::SendBack, S::Processing),
            (S::ResultReady, A::ReturnResult, S::Done),
            (S::Received, A::Stop, S::Stopped),
            (S::Processing, A::Stop, S::Stopped),
            (S::AwaitingApproval, A::Stop, S::Stopped),
            (S::AwaitingSupplement, A::Stop, S::Stopped),
            (S::Received, A::Withdraw, S::Withdrawn),
            (S::Processing, A::Withdraw, S::Withdrawn),
            (S::AwaitingSupplement, A::Withdraw, S::Withdrawn),
            (S::AwaitingApproval, A::Withdraw, S::Withdrawn),
            (S::Received, A::ExtraTime, S::Received),
            (S::Processing, A::ExtraTime, S::Processing),
        ];
        for s in open_after_receipt {
            legal.push((s, A::ApologiseAndExtend, s));
        }
        let mut moves = 0;
        for s in DossierStatus::ALL {
            for a in ACTIONS {
                let expected = legal
                    .iter()
                    .find(|(from, action, _)| *from == s && *action == a)
                    .map(|(_, _, to)| *to);
                match (transition(s, a), expected) {
                    (Ok(to), Some(want)) => {
                        assert_eq!(to, want, "{s:?} + {a:?}");
                        moves += 1;
                    }
                    (Err(e), None) => {
                        assert_eq!((e.from, e.action), (s, a));
                        assert!(!e.to_string().is_empty());
                    }
                    (got, want) => panic!("{s:?} + {a:?}: {got:?}, expected {want:?}"),
                }
            }
        }
        assert_eq!(moves, legal.len());
        // Closed states accept nothing.
        for s in DossierStatus::ALL.into_iter().filter(|s| s.is_closed()) {
            assert!(ACTIONS.iter().all(|a| transition(s, *a).is_err()), "{s:?}");
        }
    }

    #[test]
    fn passwords() {
        assert!(check_password("short").is_err());
        assert!(check_password("Password1").is_err());
        assert!(check_password("một câu rất dài dễ nhớ").is_ok());
    }
}
