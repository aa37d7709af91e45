//! E-mails to the citizen about their dossier, in Vietnamese, always through the outbox.

use crate::store::dossiers::{DossierRow, NewMail};
use crate::web::templates::render;
use minijinja::context;

/// What happened, from the citizen's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Received,
    Supplement,
    Refused,
    Result,
    Apology,
    Stopped,
    Withdrawn,
    ExtraTime,
    /// The fee was paid online (a verified IPN or `querydr` answer).
    Paid,
    /// The fee paid online was refunded (a verified `refund` answer).
    Refunded,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Received => "received",
            Kind::Supplement => "supplement",
            Kind::Refused => "refused",
            Kind::Result => "result",
            Kind::Apology => "apology",
            Kind::Stopped => "stopped",
            Kind::Withdrawn => "withdrawn",
            Kind::ExtraTime => "extra_time",
            Kind::Paid => "paid",
            Kind::Refunded => "refunded",
        }
    }
    /// The e-mail's subject for dossier `code`.
    fn subject(self, code: &str) -> String {
        let what = match self {
            Kind::Apology => {
                return format!("Thư xin lỗi và hẹn lại ngày trả kết quả hồ sơ {code}");
            }
            Kind::Stopped => return format!("Thông báo dừng giải quyết hồ sơ {code}"),
            Kind::Paid => return format!("Xác nhận thanh toán phí, lệ phí hồ sơ {code}"),
            Kind::Refunded => return format!("Hoàn trả phí, lệ phí hồ sơ {code}"),
            Kind::Received => "đã được tiếp nhận",
            Kind::Supplement => "cần bổ sung giấy tờ",
            Kind::Refused => "bị từ chối tiếp nhận",
            Kind::Result => "đã có kết quả",
            Kind::Withdrawn => "đã được rút theo yêu cầu của người nộp",
            Kind::ExtraTime => "được kéo dài thời hạn giải quyết theo quy định",
        };
        format!("Hồ sơ {code} {what}")
    }
}

pub struct Details<'a> {
    pub procedure: &'a str,
    pub agency: &'a str,
    pub base_url: &'a str,
    /// A fresh secret token for the private page.
    pub token: &'a str,
    pub reason: Option<&'a str>,
    pub due: Option<String>,
    pub missing: Vec<String>,
    pub online_result: bool,
    /// The electronic result carries the agency's digital signature.
    pub signed_result: bool,
    /// The postal tracking number of a result sent by post.
    pub postal_tracking: Option<String>,
    /// A payment: the amount in words ("24.000 đồng"), the provider as people read it and the
    /// merchant reference of the attempt.
    pub payment: Option<PaymentDetails>,
}

/// What a payment e-mail says of the payment.
#[derive(Debug, Clone, Default)]
pub struct PaymentDetails {
    pub amount: String,
    pub provider: String,
    pub txn_ref: String,
}

pub fn mail(kind: Kind, row: &DossierRow, d: &Details<'_>) -> NewMail {
    let ctx = context! {
        kind => kind.as_str(), name => row.applicant_name.clone(), code => row.code.clone(), procedure => d.procedure,
        agency => d.agency, reason => d.reason, due => d.due.clone(), missing => d.missing.clone(), online_result => d.online_result,
        signed_result => d.signed_result, postal_tracking => d.postal_tracking.clone(),
        amount => d.payment.as_ref().map(|p| p.amount.clone()),
        provider => d.payment.as_ref().map(|p| p.provider.clone()),
        txn_ref => d.payment.as_ref().map(|p| p.txn_ref.clone()),
        private_url => format!("{}/ho-so/xem/{}", d.base_url, d.token),
        lookup_url => format!("{}/tra-cuu?ma={}", d.base_url, row.code),
    };
    let body_text = match render("email_update.txt", ctx) {
        Ok(h) => h.0,
        Err(e) => {
            tracing::error!(error = %e, "e-mail template failed");
            format!("{}.", kind.subject(&row.code))
        }
    };
    NewMail {
        kind: kind.as_str().into(),
        recipient: row.applicant_email.clone(),
        subject: kind.subject(&row.code),
        body_text,
    }
}

#[cfg(test)]
mod tests {
    use super::Kind;

    #[test]
    fn subjects_name_the_letter_and_the_dossier() {
        let code = "000.00.02.H31-261205-0001";
        assert_eq!(
            Kind::Apology.subject(code),
            format!("Thư xin lỗi và hẹn lại ngày trả kết quả hồ sơ {code}")
        );
        assert_eq!(
            Kind::Stopped.subject(code),
            format!("Thông báo dừng giải quyết hồ sơ {code}")
        );
        assert_eq!(
            Kind::Received.subject(code),
            format!("Hồ sơ {code} đã được tiếp nhận")
        );
        assert_eq!(
            Kind::Paid.subject(code),
            format!("Xác nhận thanh toán phí, lệ phí hồ sơ {code}")
        );
        assert_eq!(
            Kind::Refunded.subject(code),
            format!("Hoàn trả phí, lệ phí hồ sơ {code}")
        );
    }
}
