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
/// codes (`MaTTHC`) and the endpoints are not, so all of it can be overridden by a TOML file
/// (`DVC_DVCQG_MAPPING`, see docs/integrations.md).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NationalMapping {
    /// Local status (`submitted`, …) → `TrangThaiHoSo` (1–10).
    pub statuses: BTreeMap<String, u8>,
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
}

impl Default for NationalMapping {
    fn default() -> Self {
        use DossierStatus as S;
        let statuses = [
            (S::Submitted, 1),
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
            procedures: BTreeMap::new(),
            auth_path: "/auth".into(),
            integration_path: "/integration".into(),
            dossier_service: "DongBoHoSoMC".into(),
            progress_service: "CapNhatTienDoHoSoMC".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("Tệp ánh xạ Cổng DVC quốc gia không đọc được: {0}")]
    Syntax(String),
    #[error(
        "Tệp ánh xạ: trạng thái “{0}” không có trong hệ thống (dùng submitted, received, processing, awaiting_supplement, awaiting_approval, result_ready, done, refused, stopped, withdrawn)."
    )]
    UnknownStatus(String),
    #[error("Tệp ánh xạ: mã trạng thái {1} của “{0}” phải từ 1 đến 10.")]
    BadCode(String, u8),
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
        m.procedures = parsed.procedures;
        let d = NationalMapping::default();
        let keep = |s: String, default: String| if s.is_empty() { default } else { s };
        m.auth_path = keep(parsed.auth_path, d.auth_path);
        m.integration_path = keep(parsed.integration_path, d.integration_path);
        m.dossier_service = keep(parsed.dossier_service, d.dossier_service);
        m.progress_service = keep(parsed.progress_service, d.progress_service);
        Ok(m)
    }

    /// `TrangThaiHoSo` of a local status.
    pub fn status_code(&self, status: DossierStatus) -> u8 {
        self.statuses.get(status.as_str()).copied().unwrap_or(4)
    }

    /// `MaTTHC` of a local procedure code.
    pub fn procedure_code<'a>(&'a self, local: &'a str) -> &'a str {
        self.procedures
            .get(local)
            .map(String::as_str)
            .unwrap_or(local)
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
    }
}
