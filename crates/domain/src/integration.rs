//! Rules of the integrations (issue 21), without I/O: partner scopes, which webhook destinations
//! are allowed (against SSRF), the webhook signature, and the national portal's vocabulary
//! (Cổng Dịch vụ công quốc gia: status codes 1–10, dates `yyyyMMddHHmmss` in Vietnam time).

use crate::dossier::{Action, DossierStatus};
use hmac::{KeyInit, Mac};
use std::collections::BTreeMap;
use std::net::IpAddr;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// What a partner may do with the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// `dossiers:write`: file dossiers.
    DossiersWrite,
    /// `dossiers:read`: read whole dossiers.
    DossiersRead,
    /// `events:read`: follow the change feed.
    EventsRead,
    /// `webhooks`: register webhooks.
    Webhooks,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::DossiersWrite,
        Scope::DossiersRead,
        Scope::EventsRead,
        Scope::Webhooks,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::DossiersWrite => "dossiers:write",
            Scope::DossiersRead => "dossiers:read",
            Scope::EventsRead => "events:read",
            Scope::Webhooks => "webhooks",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s.trim())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Phạm vi “{0}” không hợp lệ; chỉ dùng dossiers:write, dossiers:read, events:read, webhooks (cách nhau bởi dấu phẩy hoặc dấu cách)."
)]
pub struct BadScope(pub String);

/// A scope list as written (`dossiers:write,dossiers:read` or space-separated, as OAuth2's
/// `scope` parameter): sorted, without repeats; empty input is an empty list.
pub fn parse_scopes(s: &str) -> Result<Vec<Scope>, BadScope> {
    let mut out: Vec<Scope> = Vec::new();
    for part in s.split([',', ' ']).map(str::trim).filter(|p| !p.is_empty()) {
        let scope = Scope::parse(part).ok_or_else(|| BadScope(part.chars().take(40).collect()))?;
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    out.sort();
    Ok(out)
}

/// The stored (and granted) form of a scope list: comma-separated.
pub fn format_scopes(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// The names of every workflow event (`file` and every action), as webhooks subscribe to them
/// and the change feed names them.
pub fn event_kinds() -> Vec<&'static str> {
    std::iter::once("file")
        .chain(Action::ALL.iter().map(|a| a.as_str()))
        .collect()
}

/// True when a webhook may be delivered to `ip`: a public unicast address. Refused: loopback,
/// private (RFC 1918, IPv6 unique local), link-local, shared (CGNAT 100.64/10), unspecified,
/// multicast, broadcast, documentation and benchmarking ranges, 0/8, and IPv4-mapped or
/// NAT64-embedded forms of any of these.
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240
                || (o[0] == 192 && o[1] == 0 && o[2] == 0))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_address(IpAddr::V4(v4));
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let v4 = std::net::Ipv4Addr::new(
                    (s[6] >> 8) as u8,
                    (s[6] & 0xff) as u8,
                    (s[7] >> 8) as u8,
                    (s[7] & 0xff) as u8,
                );
                return is_public_address(IpAddr::V4(v4));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || s[0..6] == [0, 0, 0, 0, 0, 0])
        }
    }
}

/// Why a webhook URL is refused, in Vietnamese.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error(
        "Địa chỉ webhook không hợp lệ: hãy dùng một URL đầy đủ, ví dụ https://he-thong.example.vn/dvc/webhook."
    )]
    Invalid,
    #[error("Địa chỉ webhook phải dùng https://.")]
    NotHttps,
    #[error("Địa chỉ webhook không được chứa tên đăng nhập hoặc mật khẩu.")]
    Credentials,
    #[error(
        "Địa chỉ webhook trỏ tới mạng nội bộ, địa chỉ loopback hoặc link-local ({0}); chỉ được dùng địa chỉ công khai."
    )]
    PrivateAddress(String),
}

/// The `DVC-Signature` header of a webhook body sent at `t` (Unix seconds):
/// `t=<t>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the webhook's secret>`.
pub fn webhook_signature(secret: &str, t: i64, body: &[u8]) -> String {
    let v1 = signature_mac(secret, t, body)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default();
    format!("t={t},v1={v1}")
}

/// The MAC of `"<t>.<body>"` (HMAC takes a key of any length, so this is always `Some`).
fn signature_mac(secret: &str, t: i64, body: &[u8]) -> Option<HmacSha256> {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac)
}

/// Checks a `DVC-Signature` header as a receiver does: the `v1` MAC must match (constant time)
/// and `t` be within `tolerance_secs` of `now_secs`.
pub fn verify_webhook_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    if (now_secs - t).abs() > tolerance_secs {
        return false;
    }
    signature_mac(secret, t, body).is_some_and(|m| m.verify_slice(&v1).is_ok())
}

/// A moment as the national portal writes dates: `yyyyMMddHHmmss` in Vietnam time.
pub fn national_date(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ts
            .to_zoned_datetime(crate::calendar::vn_tz())
            .strftime("%Y%m%d%H%M%S")
            .to_string(),
        Err(_) => String::new(),
    }
}

/// How local values are written in the national portal's vocabulary. The status numbering 1–10
/// is confirmed by several implementations; which local status maps to which, the procedure
/// codes (`MaTTHC`), the endpoints and the payment fields are not, so all of it can be
/// overridden by a TOML file (`DVC_DVCQG_MAPPING`, see docs/integrations.md).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NationalMapping {
    /// Local status (`submitted`, …) → `TrangThaiHoSo` (1–10).
    pub statuses: BTreeMap<String, u8>,
    /// `TrangThaiHoSo` of a result that waits for its fee (paid online at the result): 6
    /// "Yêu cầu thực hiện nghĩa vụ tài chính".
    pub fee_due: u8,
    /// Local procedure code → the national `MaTTHC` (absent: the same code).
    pub procedures: BTreeMap<String, String>,
    /// Path of the login call, after `DVC_DVCQG_URL`.
    pub auth_path: String,
    /// Path of every service call, after `DVC_DVCQG_URL`.
    pub integration_path: String,
    /// Service that upserts dossiers.
    pub dossier_service: String,
    /// Service that appends a progress record.
    pub progress_service: String,
    /// Before the first push of a dossier, ask the portal whether it has it already
    /// (`lookup_service` with `mahoso`), so that a push repeated after a crash updates instead
    /// of creating a second dossier.
    pub lookup: bool,
    /// The lookup service (`TraCuuHoSo`).
    pub lookup_service: String,
    /// The member of the lookup's answer that lists what was found (OpenCPS reads `result`).
    pub lookup_result_field: String,
    /// A member of the `DongBoHoSoMC` answer carrying the portal's own dossier code, to be
    /// kept and used in later pushes. Empty (the default): no documented answer carries one.
    pub answer_code_field: String,
    /// `HinhThucThu` of a fee paid at filing (the ministry-portal variant's 1 "khi tiếp nhận").
    pub collected_at_filing: String,
    /// `HinhThucThu` of a fee paid when the result is returned (4 "khi trả kết quả").
    pub collected_at_result: String,
    /// `DuocThanhToanTrucTuyen` of a fee paid through this portal's own gateway (2; 1 is the
    /// national portal's payment platform).
    pub paid_online: String,
    /// Names of the payment record sent with a fee payable online (unconfirmed for
    /// `DongBoHoSoMC`: taken from the national portal's payment messages).
    pub payment_fields: PaymentFields,
    /// How long a link to an attached file (`TaiLieuNop[].DuongDanTaiTepTin`) stays valid.
    pub attachment_link_days: u32,
}

/// Names of the payment record in a pushed dossier. None of them is documented for
/// `DongBoHoSoMC` (research notes §2.2, §2.4, §3.5 give them for the payment platform's
/// messages and the inbound tax-payment proof); an empty `object` leaves the record out, an
/// empty member name leaves that member out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentFields {
    /// The record's name (`ThongTinThanhToan`).
    pub object: String,
    /// 1 paid, 0 not paid (`TrangThaiThanhToan`).
    pub status: String,
    /// The amount paid, in đồng (`SoTien`).
    pub amount: String,
    /// When it was paid, `yyyyMMddHHmmss` Vietnam time (`ThoiGianThanhToan`).
    pub paid_at: String,
    /// The gateway's transaction number (`MaGiaoDich`).
    pub transaction: String,
    /// This portal's reference sent to the gateway (`MaThamChieu`).
    pub reference: String,
}

impl Default for PaymentFields {
    fn default() -> Self {
        PaymentFields {
            object: "ThongTinThanhToan".into(),
            status: "TrangThaiThanhToan".into(),
            amount: "SoTien".into(),
            paid_at: "ThoiGianThanhToan".into(),
            transaction: "MaGiaoDich".into(),
            reference: "MaThamChieu".into(),
        }
    }
}

impl Default for NationalMapping {
    fn default() -> Self {
        use DossierStatus as S;
        let statuses = [
            (S::Submitted, 1),
            (S::AwaitingPayment, 6),
            (S::Received, 2),
            (S::Refused, 3),
            (S::Processing, 4),
            (S::AwaitingApproval, 4),
            (S::AwaitingSupplement, 5),
            (S::Withdrawn, 7),
            (S::Stopped, 8),
            (S::ResultReady, 9),
            (S::Done, 10),
        ]
        .into_iter()
        .map(|(s, c)| (s.as_str().to_string(), c))
        .collect();
        NationalMapping {
            statuses,
            fee_due: 6,
            procedures: BTreeMap::new(),
            auth_path: "/auth".into(),
            integration_path: "/integration".into(),
            dossier_service: "DongBoHoSoMC".into(),
            progress_service: "CapNhatTienDoHoSoMC".into(),
            lookup: true,
            lookup_service: "TraCuuHoSo".into(),
            lookup_result_field: "result".into(),
            answer_code_field: String::new(),
            collected_at_filing: "1".into(),
            collected_at_result: "4".into(),
            paid_online: "2".into(),
            payment_fields: PaymentFields::default(),
            attachment_link_days: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("Tệp ánh xạ Cổng DVC quốc gia không đọc được: {0}")]
    Syntax(String),
    #[error(
        "Tệp ánh xạ: trạng thái “{0}” không có trong hệ thống (dùng submitted, awaiting_payment, received, processing, awaiting_supplement, awaiting_approval, result_ready, done, refused, stopped, withdrawn)."
    )]
    UnknownStatus(String),
    #[error("Tệp ánh xạ: mã trạng thái {1} của “{0}” phải từ 1 đến 10.")]
    BadCode(String, u8),
    #[error("Tệp ánh xạ: attachment_link_days phải từ 1 đến 365.")]
    BadLinkDays,
}

impl NationalMapping {
    /// Reads a mapping file; what it leaves out keeps the default.
    pub fn parse(text: &str) -> Result<NationalMapping, MappingError> {
        let parsed: NationalMapping =
            toml::from_str(text).map_err(|e| MappingError::Syntax(e.to_string()))?;
        let mut m = NationalMapping::default();
        for (k, v) in parsed.statuses {
            if DossierStatus::parse(&k).is_none() {
                return Err(MappingError::UnknownStatus(k));
            }
            if !(1..=10).contains(&v) {
                return Err(MappingError::BadCode(k, v));
            }
            m.statuses.insert(k, v);
        }
        if !(1..=10).contains(&parsed.fee_due) {
            return Err(MappingError::BadCode("fee_due".into(), parsed.fee_due));
        }
        if !(1..=365).contains(&parsed.attachment_link_days) {
            return Err(MappingError::BadLinkDays);
        }
        m.fee_due = parsed.fee_due;
        m.procedures = parsed.procedures;
        m.lookup = parsed.lookup;
        m.answer_code_field = parsed.answer_code_field;
        m.payment_fields = parsed.payment_fields;
        m.attachment_link_days = parsed.attachment_link_days;
        let d = NationalMapping::default();
        let keep = |s: String, default: String| if s.is_empty() { default } else { s };
        m.auth_path = keep(parsed.auth_path, d.auth_path);
        m.integration_path = keep(parsed.integration_path, d.integration_path);
        m.dossier_service = keep(parsed.dossier_service, d.dossier_service);
        m.progress_service = keep(parsed.progress_service, d.progress_service);
        m.lookup_service = keep(parsed.lookup_service, d.lookup_service);
        m.lookup_result_field = keep(parsed.lookup_result_field, d.lookup_result_field);
        m.collected_at_filing = keep(parsed.collected_at_filing, d.collected_at_filing);
        m.collected_at_result = keep(parsed.collected_at_result, d.collected_at_result);
        m.paid_online = keep(parsed.paid_online, d.paid_online);
        Ok(m)
    }

    /// `TrangThaiHoSo` of a local status.
    pub fn status_code(&self, status: DossierStatus) -> u8 {
        self.statuses.get(status.as_str()).copied().unwrap_or(4)
    }

    /// `TrangThaiHoSo` of a dossier in `status` while its fee payable online is owed
    /// (`fee_owed`, see [`fee_owed`]) or not: waiting for payment at filing is
    /// `statuses.awaiting_payment` (6), a result waiting for its fee is `fee_due` (6), and once
    /// paid each goes back to its own status's code.
    pub fn national_status(&self, status: DossierStatus, fee_owed: bool) -> u8 {
        match status {
            DossierStatus::ResultReady if fee_owed => self.fee_due,
            s => self.status_code(s),
        }
    }

    /// `HinhThucThu` of a fee paid online at filing (`at_filing`) or at the result.
    pub fn collected(&self, at_filing: bool) -> &str {
        if at_filing {
            &self.collected_at_filing
        } else {
            &self.collected_at_result
        }
    }

    /// `MaTTHC` of a local procedure code.
    pub fn procedure_code<'a>(&'a self, local: &'a str) -> &'a str {
        self.procedures
            .get(local)
            .map(String::as_str)
            .unwrap_or(local)
    }
}

/// Whether a dossier owes a fee payable online: it has one (`fee_vnd` > 0), it is payable
/// through the portal (`payable_online`: the dossier has a payment state), and it is not paid
/// yet (`paid`).
pub fn fee_owed(fee_vnd: i64, payable_online: bool, paid: bool) -> bool {
    fee_vnd > 0 && payable_online && !paid
}

/// `LoaiPhiLePhi` of a fee line from its label: 1 "phí" when the label starts with "Phí", else
/// 2 "lệ phí" (the payment platform's codes, research notes §2.2; the value domain in
/// `DongBoHoSoMC` is unconfirmed, and the catalogue does not say which a line is).
pub fn fee_kind(label: &str) -> &'static str {
    let l = label.trim_start().to_lowercase();
    if l.starts_with("phí") { "1" } else { "2" }
}

/// The signature of a link to attachment `attachment_id` of dossier `dossier_id`, valid until
/// `expires` (Unix seconds): hex HMAC-SHA256 of `"dvcqg-attachment|<dossier>|<attachment>|<expires>"`
/// under `key`.
pub fn attachment_link_signature(
    key: &[u8],
    dossier_id: i64,
    attachment_id: i64,
    expires: i64,
) -> String {
    attachment_mac(key, dossier_id, attachment_id, expires)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default()
}

fn attachment_mac(
    key: &[u8],
    dossier_id: i64,
    attachment_id: i64,
    expires: i64,
) -> Option<HmacSha256> {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).ok()?;
    mac.update(format!("dvcqg-attachment|{dossier_id}|{attachment_id}|{expires}").as_bytes());
    Some(mac)
}

/// What a presented attachment link is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkCheck {
    Valid,
    /// Signed by us, but past its expiry.
    Expired,
    /// Not signed by us for this attachment and expiry (altered, or made up).
    Invalid,
}

/// Checks a link's signature (constant time) and then its expiry against `now_secs`.
pub fn check_attachment_link(
    key: &[u8],
    dossier_id: i64,
    attachment_id: i64,
    expires: i64,
    signature: &str,
    now_secs: i64,
) -> LinkCheck {
    let Ok(given) = hex::decode(signature.trim()) else {
        return LinkCheck::Invalid;
    };
    let ok = attachment_mac(key, dossier_id, attachment_id, expires)
        .is_some_and(|m| m.verify_slice(&given).is_ok());
    if !ok {
        LinkCheck::Invalid
    } else if now_secs > expires {
        LinkCheck::Expired
    } else {
        LinkCheck::Valid
    }
}

/// The name the national portal's code lists give a status code (§3.2 of the research notes).
pub fn national_status_name(code: u8) -> &'static str {
    match code {
        1 => "Mới đăng ký",
        2 => "Được tiếp nhận",
        3 => "Không được tiếp nhận",
        4 => "Đang xử lý",
        5 => "Yêu cầu bổ sung giấy tờ",
        6 => "Yêu cầu thực hiện nghĩa vụ tài chính",
        7 => "Công dân yêu cầu rút hồ sơ",
        8 => "Dừng xử lý",
        9 => "Đã xử lý xong",
        10 => "Đã trả kết quả",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_refuse() {
        assert_eq!(
            parse_scopes("dossiers:read, dossiers:write dossiers:read").expect("ok"),
            vec![Scope::DossiersWrite, Scope::DossiersRead]
        );
        assert!(parse_scopes("admin").is_err());
        assert_eq!(parse_scopes("").expect("empty"), vec![]);
    }

    #[test]
    fn addresses() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!is_public_address(bad.parse().expect("ip")), "{bad}");
        }
        for good in ["8.8.8.8", "203.162.4.191", "2402:800::1"] {
            assert!(is_public_address(good.parse().expect("ip")), "{good}");
        }
    }

    #[test]
    fn signature_round_trip() {
        let h = webhook_signature("bí mật", 1_700_000_000, b"{\"a\":1}");
        assert!(h.starts_with("t=1700000000,v1="));
        assert!(verify_webhook_signature(
            "bí mật",
            &h,
            b"{\"a\":1}",
            1_700_000_100,
            300
        ));
        assert!(!verify_webhook_signature(
            "khác",
            &h,
            b"{\"a\":1}",
            1_700_000_100,
            300
        ));
        assert!(!verify_webhook_signature(
            "bí mật",
            &h,
            b"{\"a\":2}",
            1_700_000_100,
            300
        ));
        assert!(!verify_webhook_signature(
            "bí mật",
            &h,
            b"{\"a\":1}",
            1_700_001_000,
            300
        ));
    }

    #[test]
    fn national_dates_are_vietnam_time() {
        // 2026-12-04T17:30:05Z is 00:30:05 on 5 December in Vietnam.
        assert_eq!(national_date(1_796_405_405_000), "20261205003005");
    }

    #[test]
    fn mapping_defaults_and_overrides() {
        let d = NationalMapping::default();
        assert_eq!(d.status_code(DossierStatus::Submitted), 1);
        assert_eq!(d.status_code(DossierStatus::Done), 10);
        assert_eq!(d.status_code(DossierStatus::Withdrawn), 7);
        let m = NationalMapping::parse(
            "[statuses]\nawaiting_approval = 9\n[procedures]\n\"1.001193\" = \"1.001193.000.00.00.H31\"\n",
        )
        .expect("parse");
        assert_eq!(m.status_code(DossierStatus::AwaitingApproval), 9);
        assert_eq!(m.status_code(DossierStatus::Received), 2);
        assert_eq!(m.procedure_code("1.001193"), "1.001193.000.00.00.H31");
        assert!(NationalMapping::parse("[statuses]\nfoo = 1\n").is_err());
        assert!(NationalMapping::parse("[statuses]\ndone = 11\n").is_err());
        assert!(NationalMapping::parse("fee_due = 0\n").is_err());
        let p = NationalMapping::parse(
            "fee_due = 4\nlookup = false\n[payment_fields]\nobject = \"\"\n",
        )
        .expect("parse");
        assert_eq!(p.national_status(DossierStatus::ResultReady, true), 4);
        assert!(!p.lookup);
        assert_eq!(p.lookup_service, "TraCuuHoSo");
        assert_eq!(p.payment_fields.object, "");
        assert_eq!(p.payment_fields.amount, "SoTien");
    }

    #[test]
    fn status_six_while_a_fee_is_owed() {
        let d = NationalMapping::default();
        assert_eq!(d.national_status(DossierStatus::AwaitingPayment, true), 6);
        assert_eq!(d.national_status(DossierStatus::ResultReady, true), 6);
        assert_eq!(d.national_status(DossierStatus::ResultReady, false), 9);
        assert_eq!(d.national_status(DossierStatus::Submitted, false), 1);
        assert_eq!(d.national_status(DossierStatus::Processing, true), 4);
        assert!(fee_owed(20_000, true, false));
        assert!(!fee_owed(20_000, true, true));
        assert!(!fee_owed(20_000, false, false));
        assert!(!fee_owed(0, true, false));
        assert_eq!(fee_kind("Lệ phí cấp bản sao"), "2");
        assert_eq!(fee_kind("Phí thẩm định"), "1");
    }

    #[test]
    fn attachment_links() {
        let k = b"khoa-thu";
        let sig = attachment_link_signature(k, 7, 42, 1_000);
        assert_eq!(sig.len(), 64);
        assert_eq!(
            check_attachment_link(k, 7, 42, 1_000, &sig, 999),
            LinkCheck::Valid
        );
        assert_eq!(
            check_attachment_link(k, 7, 42, 1_000, &sig, 1_001),
            LinkCheck::Expired
        );
        // Another attachment, dossier or expiry under the same signature.
        assert_eq!(
            check_attachment_link(k, 7, 43, 1_000, &sig, 999),
            LinkCheck::Invalid
        );
        assert_eq!(
            check_attachment_link(k, 8, 42, 1_000, &sig, 999),
            LinkCheck::Invalid
        );
        assert_eq!(
            check_attachment_link(k, 7, 42, 9_000, &sig, 999),
            LinkCheck::Invalid
        );
        assert_eq!(
            check_attachment_link(b"khac", 7, 42, 1_000, &sig, 999),
            LinkCheck::Invalid
        );
        assert_eq!(
            check_attachment_link(k, 7, 42, 1_000, "zz", 999),
            LinkCheck::Invalid
        );
    }
}
