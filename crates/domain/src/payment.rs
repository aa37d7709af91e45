//! Online payment of fees: the states of a payment and the VNPay 2.1.0 protocol, pure.
//!
//! A dossier's fee is paid through a payment provider (VNPay today; the national portal's
//! payment platform and PayGov are the next ones, see `src/payment/`). Each attempt is one
//! payment with its own merchant reference (`vnp_TxnRef`); only the provider's verified answer
//! (the IPN, or a verified `querydr` answer) makes it paid.
//!
//! [`vnpay`] holds the protocol: the pay URL, the signature (HMAC-SHA512 over the sorted,
//! form-encoded parameters), the IPN checks in the order of the official demo and their JSON
//! answer, and the `|`-joined hashes of `querydr` and `refund`.

use serde::{Deserialize, Serialize};

/// Where one payment attempt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Owed, no attempt yet.
    #[default]
    Created,
    /// Sent to the gateway, no answer yet.
    Pending,
    Paid,
    Failed,
    /// The citizen cancelled at the gateway.
    Cancelled,
    /// Not paid before the gateway's deadline.
    Expired,
    Refunded,
    /// Collected in cash at the one-stop desk (a fee due at the result), recorded by an official
    /// with the receipt number. Only ever the dossier's state, never an online attempt's.
    Collected,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 8] = [
        PaymentStatus::Created,
        PaymentStatus::Pending,
        PaymentStatus::Paid,
        PaymentStatus::Failed,
        PaymentStatus::Cancelled,
        PaymentStatus::Expired,
        PaymentStatus::Refunded,
        PaymentStatus::Collected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Created => "created",
            PaymentStatus::Pending => "pending",
            PaymentStatus::Paid => "paid",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Cancelled => "cancelled",
            PaymentStatus::Expired => "expired",
            PaymentStatus::Refunded => "refunded",
            PaymentStatus::Collected => "collected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            PaymentStatus::Created => "Chưa thanh toán",
            PaymentStatus::Pending => "Đang chờ kết quả thanh toán",
            PaymentStatus::Paid => "Đã thanh toán",
            PaymentStatus::Failed => "Thanh toán không thành công",
            PaymentStatus::Cancelled => "Đã hủy giao dịch thanh toán",
            PaymentStatus::Expired => "Giao dịch thanh toán đã hết hạn",
            PaymentStatus::Refunded => "Đã hoàn tiền",
            PaymentStatus::Collected => "Đã thu tại Bộ phận Một cửa",
        }
    }

    /// The fee is settled: paid online or collected at the desk.
    pub fn is_settled(self) -> bool {
        matches!(self, PaymentStatus::Paid | PaymentStatus::Collected)
    }

    /// The citizen may start a new attempt.
    pub fn can_retry(self) -> bool {
        matches!(
            self,
            PaymentStatus::Created
                | PaymentStatus::Failed
                | PaymentStatus::Cancelled
                | PaymentStatus::Expired
        )
    }

    /// Whether a payment may move from `self` to `to`: only a pending attempt gets a result;
    /// only a paid one is refunded.
    pub fn may_become(self, to: PaymentStatus) -> bool {
        use PaymentStatus as P;
        matches!(
            (self, to),
            (P::Created, P::Pending)
                | (P::Pending, P::Paid | P::Failed | P::Cancelled | P::Expired)
                | (P::Paid, P::Refunded)
        )
    }
}

pub mod vnpay {
    //! VNPay API 2.1.0, merchant side and (for the sandbox) gateway side.

    use hmac::{KeyInit, Mac};
    use std::collections::BTreeMap;

    type HmacSha512 = hmac::Hmac<sha2::Sha512>;

    pub const VERSION: &str = "2.1.0";

    /// Application/x-www-form-urlencoded as WHATWG `URLSearchParams` writes it (the reference
    /// library): ASCII letters, digits and `*-._` kept, space → `+`, every other byte `%XX`.
    pub fn form_encode(s: &str) -> String {
        let mut out = String::with_capacity(s.len() * 3 / 2);
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                    out.push(char::from(b))
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }

    /// The string a pay request, a return URL or an IPN is signed over: the `vnp_*` parameters
    /// except `vnp_SecureHash` and `vnp_SecureHashType`, empty values dropped, sorted by key in
    /// byte order, form-encoded, joined with `&`. It is also the query string of the pay URL.
    pub fn signed_data(params: &BTreeMap<String, String>) -> String {
        params
            .iter()
            .filter(|(k, v)| {
                k.starts_with("vnp_")
                    && k.as_str() != "vnp_SecureHash"
                    && k.as_str() != "vnp_SecureHashType"
                    && !v.is_empty()
            })
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    fn mac(secret: &[u8], data: &str) -> HmacSha512 {
        let mut m = match HmacSha512::new_from_slice(secret) {
            Ok(m) => m,
            // HMAC takes keys of any length.
            Err(_) => unreachable!("HMAC accepts any key length"),
        };
        m.update(data.as_bytes());
        m
    }

    /// HMAC-SHA512 of `data` under `secret`, lowercase hex (128 characters).
    pub fn hmac_hex(secret: &[u8], data: &str) -> String {
        hex::encode(mac(secret, data).finalize().into_bytes())
    }

    /// Whether `given` (hex, either case) is the HMAC-SHA512 of `data`, compared in constant
    /// time.
    pub fn hmac_matches(secret: &[u8], data: &str, given: &str) -> bool {
        let Ok(bytes) = hex::decode(given.trim()) else {
            return false;
        };
        mac(secret, data).verify_slice(&bytes).is_ok()
    }

    /// `vnp_SecureHash` of these parameters.
    pub fn sign(secret: &[u8], params: &BTreeMap<String, String>) -> String {
        hmac_hex(secret, &signed_data(params))
    }

    /// Whether the received parameters carry a valid `vnp_SecureHash` (constant time).
    pub fn verify(secret: &[u8], params: &BTreeMap<String, String>) -> bool {
        match params.get("vnp_SecureHash") {
            Some(h) => hmac_matches(secret, &signed_data(params), h),
            None => false,
        }
    }

    /// The query string of a signed request: the signed data, then `vnp_SecureHash`.
    pub fn signed_query(secret: &[u8], params: &BTreeMap<String, String>) -> String {
        let data = signed_data(params);
        let hash = hmac_hex(secret, &data);
        format!("{data}&vnp_SecureHash={hash}")
    }

    /// `yyyyMMddHHmmss` in GMT+7 (Vietnam keeps no daylight saving time).
    pub fn vn_time(ms: i64) -> String {
        let t = jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        jiff::tz::TimeZone::fixed(jiff::tz::offset(7))
            .to_datetime(t)
            .strftime("%Y%m%d%H%M%S")
            .to_string()
    }

    /// Parses `yyyyMMddHHmmss` in GMT+7 back to milliseconds.
    pub fn parse_vn_time(s: &str) -> Option<i64> {
        if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let dt = jiff::civil::DateTime::strptime("%Y%m%d%H%M%S", s).ok()?;
        let z = jiff::tz::TimeZone::fixed(jiff::tz::offset(7))
            .to_zoned_datetime(dt)
            .ok()?;
        Some(z.timestamp().as_millisecond())
    }

    /// Keeps what every VNPay encoder writes the same way: ASCII letters, digits, space and
    /// `.-_:`, diacritics removed (the docs ask for "Tiếng Việt không dấu"), at most 255 chars.
    pub fn order_info(text: &str) -> String {
        let folded = crate::text::strip_diacritics(text);
        folded
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || " .-_:".contains(c) {
                    c
                } else {
                    ' '
                }
            })
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(255)
            .collect()
    }

    /// A pay request (`vnp_Command=pay`).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct PayRequest {
        pub tmn_code: String,
        pub amount_vnd: u64,
        pub txn_ref: String,
        pub order_info: String,
        pub return_url: String,
        pub ip_addr: String,
        pub created_at_ms: i64,
        pub expire_at_ms: i64,
    }

    impl PayRequest {
        /// Every parameter of the protocol, unsigned.
        pub fn params(&self) -> BTreeMap<String, String> {
            let mut p = BTreeMap::new();
            let mut put = |k: &str, v: String| {
                p.insert(k.to_string(), v);
            };
            put("vnp_Version", VERSION.into());
            put("vnp_Command", "pay".into());
            put("vnp_TmnCode", self.tmn_code.clone());
            put(
                "vnp_Amount",
                (self.amount_vnd.saturating_mul(100)).to_string(),
            );
            put("vnp_CurrCode", "VND".into());
            put("vnp_TxnRef", self.txn_ref.clone());
            put("vnp_OrderInfo", order_info(&self.order_info));
            // 250000: "Thanh toán hóa đơn" in VNPay's goods table; fees are bills.
            put("vnp_OrderType", "other".into());
            put("vnp_Locale", "vn".into());
            put("vnp_ReturnUrl", self.return_url.clone());
            put("vnp_IpAddr", self.ip_addr.clone());
            put("vnp_CreateDate", vn_time(self.created_at_ms));
            put("vnp_ExpireDate", vn_time(self.expire_at_ms));
            p
        }

        /// The URL the citizen is sent to: `pay_url?<signed query>`.
        pub fn url(&self, pay_url: &str, secret: &[u8]) -> String {
            let sep = if pay_url.contains('?') { '&' } else { '?' };
            format!("{pay_url}{sep}{}", signed_query(secret, &self.params()))
        }
    }

    /// What the gateway reports about one transaction (return URL and IPN), after the
    /// signature was verified.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct Report {
        pub tmn_code: String,
        pub txn_ref: String,
        /// `vnp_Amount` as sent: the amount × 100.
        pub amount_x100: u64,
        pub response_code: String,
        pub transaction_status: String,
        pub transaction_no: String,
        pub bank_code: String,
        pub bank_tran_no: String,
        pub card_type: String,
        pub pay_date: String,
    }

    impl Report {
        /// Reads the fields; `None` when one the protocol requires is missing or malformed.
        pub fn from_params(p: &BTreeMap<String, String>) -> Option<Report> {
            let get = |k: &str| p.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
            let amount = get("vnp_Amount");
            if amount.is_empty() || amount.len() > 15 || !amount.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            let r = Report {
                tmn_code: get("vnp_TmnCode"),
                txn_ref: get("vnp_TxnRef"),
                amount_x100: amount.parse().ok()?,
                response_code: get("vnp_ResponseCode"),
                transaction_status: get("vnp_TransactionStatus"),
                transaction_no: get("vnp_TransactionNo"),
                bank_code: get("vnp_BankCode"),
                bank_tran_no: get("vnp_BankTranNo"),
                card_type: get("vnp_CardType"),
                pay_date: get("vnp_PayDate"),
            };
            if r.txn_ref.is_empty() || r.response_code.is_empty() || r.tmn_code.is_empty() {
                return None;
            }
            Some(r)
        }

        /// The payment's state this report gives: paid only when both the response code and
        /// the transaction status say success.
        pub fn outcome(&self) -> super::PaymentStatus {
            use super::PaymentStatus as P;
            match (
                self.response_code.as_str(),
                self.transaction_status.as_str(),
            ) {
                ("00", "00") => P::Paid,
                ("24", _) => P::Cancelled,
                ("11", _) => P::Expired,
                _ => P::Failed,
            }
        }
    }

    /// The merchant's answer to an IPN.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum IpnAnswer {
        Confirmed,
        OrderNotFound,
        AlreadyConfirmed,
        InvalidAmount,
        InvalidSignature,
        Unknown,
    }

    impl IpnAnswer {
        pub fn code(self) -> &'static str {
            match self {
                IpnAnswer::Confirmed => "00",
                IpnAnswer::OrderNotFound => "01",
                IpnAnswer::AlreadyConfirmed => "02",
                IpnAnswer::InvalidAmount => "04",
                IpnAnswer::InvalidSignature => "97",
                IpnAnswer::Unknown => "99",
            }
        }

        /// The documented message (official demo / reference library).
        pub fn message(self) -> &'static str {
            match self {
                IpnAnswer::Confirmed => "Confirm Success",
                IpnAnswer::OrderNotFound => "Order not found",
                IpnAnswer::AlreadyConfirmed => "Order already confirmed",
                IpnAnswer::InvalidAmount => "Invalid amount",
                IpnAnswer::InvalidSignature => "Invalid signature",
                IpnAnswer::Unknown => "Unknow error",
            }
        }

        /// `{"RspCode":"..","Message":".."}`.
        pub fn json(self) -> String {
            format!(
                "{{\"RspCode\":\"{}\",\"Message\":\"{}\"}}",
                self.code(),
                self.message()
            )
        }
    }

    /// The payment an IPN names, as stored.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Stored {
        pub status: super::PaymentStatus,
        pub amount_vnd: u64,
    }

    /// The IPN checks in the official order: signature (97), order (01), amount (04), still
    /// pending (02); then the new state to record and `00`. `stored` is the payment whose
    /// `vnp_TxnRef` the (verified) report names, looked up only after the signature passed.
    pub fn check_ipn(
        secret: &[u8],
        tmn_code: &str,
        params: &BTreeMap<String, String>,
        stored: impl FnOnce(&str) -> Option<Stored>,
    ) -> Result<(Report, super::PaymentStatus), IpnAnswer> {
        if !verify(secret, params) {
            return Err(IpnAnswer::InvalidSignature);
        }
        let Some(report) = Report::from_params(params) else {
            return Err(IpnAnswer::Unknown);
        };
        if report.tmn_code != tmn_code {
            return Err(IpnAnswer::OrderNotFound);
        }
        let Some(s) = stored(&report.txn_ref) else {
            return Err(IpnAnswer::OrderNotFound);
        };
        if Some(report.amount_x100) != s.amount_vnd.checked_mul(100) {
            return Err(IpnAnswer::InvalidAmount);
        }
        if s.status != super::PaymentStatus::Pending {
            return Err(IpnAnswer::AlreadyConfirmed);
        }
        let outcome = report.outcome();
        Ok((report, outcome))
    }

    /// `querydr` request hash input (raw values joined with `|`, this order).
    #[allow(clippy::too_many_arguments)]
    pub fn querydr_data(
        request_id: &str,
        tmn_code: &str,
        txn_ref: &str,
        transaction_date: &str,
        create_date: &str,
        ip_addr: &str,
        order_info: &str,
    ) -> String {
        [
            request_id,
            VERSION,
            "querydr",
            tmn_code,
            txn_ref,
            transaction_date,
            create_date,
            ip_addr,
            order_info,
        ]
        .join("|")
    }

    /// `refund` request hash input.
    #[allow(clippy::too_many_arguments)]
    pub fn refund_data(
        request_id: &str,
        tmn_code: &str,
        transaction_type: &str,
        txn_ref: &str,
        amount_x100: &str,
        transaction_no: &str,
        transaction_date: &str,
        create_by: &str,
        create_date: &str,
        ip_addr: &str,
        order_info: &str,
    ) -> String {
        [
            request_id,
            VERSION,
            "refund",
            tmn_code,
            transaction_type,
            txn_ref,
            amount_x100,
            transaction_no,
            transaction_date,
            create_by,
            create_date,
            ip_addr,
            order_info,
        ]
        .join("|")
    }

    /// Fields of a `querydr` answer in hash order.
    pub const QUERYDR_RESPONSE_FIELDS: [&str; 15] = [
        "vnp_ResponseId",
        "vnp_Command",
        "vnp_ResponseCode",
        "vnp_Message",
        "vnp_TmnCode",
        "vnp_TxnRef",
        "vnp_Amount",
        "vnp_BankCode",
        "vnp_PayDate",
        "vnp_TransactionNo",
        "vnp_TransactionType",
        "vnp_TransactionStatus",
        "vnp_OrderInfo",
        "vnp_PromotionCode",
        "vnp_PromotionAmount",
    ];

    /// Fields of a `refund` answer in hash order (the querydr ones without the promotion).
    pub const REFUND_RESPONSE_FIELDS: [&str; 13] = [
        "vnp_ResponseId",
        "vnp_Command",
        "vnp_ResponseCode",
        "vnp_Message",
        "vnp_TmnCode",
        "vnp_TxnRef",
        "vnp_Amount",
        "vnp_BankCode",
        "vnp_PayDate",
        "vnp_TransactionNo",
        "vnp_TransactionType",
        "vnp_TransactionStatus",
        "vnp_OrderInfo",
    ];

    /// The hash input of an answer: its raw field values (missing ones empty) joined with `|`.
    pub fn response_data(fields: &[&str], get: impl Fn(&str) -> String) -> String {
        fields.iter().map(|f| get(f)).collect::<Vec<_>>().join("|")
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use proptest::prelude::*;

        const SECRET: &[u8] = b"SECRETKEYFORTESTS0123456789ABCDE";

        /// The official example URL of domain.md §8: parameters in this order, this encoding.
        #[test]
        fn signed_data_matches_the_official_example() {
            let p: BTreeMap<String, String> = [
                ("vnp_Amount", "1806000"),
                ("vnp_Command", "pay"),
                ("vnp_CreateDate", "20210801153333"),
                ("vnp_CurrCode", "VND"),
                ("vnp_IpAddr", "127.0.0.1"),
                ("vnp_Locale", "vn"),
                ("vnp_OrderInfo", "Thanh toan don hang :5"),
                ("vnp_OrderType", "other"),
                ("vnp_ReturnUrl", "https://domainmerchant.vn/ReturnUrl"),
                ("vnp_TmnCode", "DEMOV210"),
                ("vnp_TxnRef", "5"),
                ("vnp_Version", "2.1.0"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            let data = signed_data(&p);
            assert_eq!(
                data,
                "vnp_Amount=1806000&vnp_Command=pay&vnp_CreateDate=20210801153333&vnp_CurrCode=VND&vnp_IpAddr=127.0.0.1&vnp_Locale=vn&vnp_OrderInfo=Thanh+toan+don+hang+%3A5&vnp_OrderType=other&vnp_ReturnUrl=https%3A%2F%2Fdomainmerchant.vn%2FReturnUrl&vnp_TmnCode=DEMOV210&vnp_TxnRef=5&vnp_Version=2.1.0"
            );
            let hash = sign(SECRET, &p);
            assert_eq!(hash.len(), 128);
            assert!(
                hash.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            // The hash is HMAC-SHA512 of exactly that string (RFC 4231 case 1 checks the MAC).
            assert_eq!(hash, hmac_hex(SECRET, &data));
            let mut signed = p.clone();
            signed.insert("vnp_SecureHash".into(), hash.to_uppercase());
            signed.insert("vnp_SecureHashType".into(), "HmacSHA512".into());
            assert!(
                verify(SECRET, &signed),
                "case-insensitive, SecureHashType ignored"
            );
        }

        /// RFC 4231 test case 2: the MAC itself.
        #[test]
        fn hmac_sha512_known_answer() {
            assert_eq!(
                hmac_hex(b"Jefe", "what do ya want for nothing?"),
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
            );
        }

        #[test]
        fn library_rules_empty_values_and_non_vnp_keys_are_left_out() {
            let mut p = BTreeMap::new();
            p.insert("vnp_B".to_string(), "x y".to_string());
            p.insert("vnp_A".to_string(), String::new());
            p.insert("other".to_string(), "1".to_string());
            p.insert("vnp_SecureHash".to_string(), "ab".to_string());
            assert_eq!(signed_data(&p), "vnp_B=x+y");
        }

        #[test]
        fn times_are_gmt_plus_7() {
            // 2021-08-01T08:33:33Z is 15:33:33 in Hà Nội.
            let ms = 1_627_806_813_000;
            assert_eq!(vn_time(ms), "20210801153333");
            assert_eq!(parse_vn_time("20210801153333"), Some(ms));
            assert_eq!(parse_vn_time("2021080115333"), None);
        }

        #[test]
        fn order_info_is_ascii_without_diacritics() {
            assert_eq!(
                order_info("Lệ phí hồ sơ 000.00.00.H31-261204-0001 (Đăng ký)"),
                "Le phi ho so 000.00.00.H31-261204-0001 Dang ky"
            );
        }

        fn report_params(txn: &str, amount_x100: u64, code: &str) -> BTreeMap<String, String> {
            let mut p: BTreeMap<String, String> = [
                ("vnp_TmnCode", "DVCTEST1"),
                ("vnp_TxnRef", txn),
                ("vnp_ResponseCode", code),
                (
                    "vnp_TransactionStatus",
                    if code == "00" { "00" } else { "02" },
                ),
                ("vnp_TransactionNo", "14000001"),
                ("vnp_BankCode", "NCB"),
                ("vnp_PayDate", "20261204100000"),
                ("vnp_OrderInfo", "Le phi"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            p.insert("vnp_Amount".into(), amount_x100.to_string());
            let h = sign(SECRET, &p);
            p.insert("vnp_SecureHash".into(), h);
            p
        }

        fn pending(amount: u64) -> impl FnOnce(&str) -> Option<Stored> {
            move |t| {
                (t == "T1").then_some(Stored {
                    status: crate::payment::PaymentStatus::Pending,
                    amount_vnd: amount,
                })
            }
        }

        #[test]
        fn ipn_checks_in_order() {
            use crate::payment::PaymentStatus as P;
            let ok = report_params("T1", 1_000_000, "00");
            assert_eq!(
                check_ipn(SECRET, "DVCTEST1", &ok, pending(10_000)).map(|r| r.1),
                Ok(P::Paid)
            );
            let cancelled = report_params("T1", 1_000_000, "24");
            assert_eq!(
                check_ipn(SECRET, "DVCTEST1", &cancelled, pending(10_000)).map(|r| r.1),
                Ok(P::Cancelled)
            );
            assert_eq!(
                check_ipn(b"other", "DVCTEST1", &ok, pending(10_000)).map(|r| r.1),
                Err(IpnAnswer::InvalidSignature)
            );
            assert_eq!(
                check_ipn(
                    SECRET,
                    "DVCTEST1",
                    &report_params("T2", 1_000_000, "00"),
                    pending(10_000)
                )
                .map(|r| r.1),
                Err(IpnAnswer::OrderNotFound)
            );
            for off in [999_900, 1_000_100, 1_000_001] {
                assert_eq!(
                    check_ipn(
                        SECRET,
                        "DVCTEST1",
                        &report_params("T1", off, "00"),
                        pending(10_000)
                    )
                    .map(|r| r.1),
                    Err(IpnAnswer::InvalidAmount)
                );
            }
            for s in [P::Paid, P::Refunded, P::Failed, P::Cancelled] {
                assert_eq!(
                    check_ipn(SECRET, "DVCTEST1", &ok, |_| Some(Stored {
                        status: s,
                        amount_vnd: 10_000
                    }))
                    .map(|r| r.1),
                    Err(IpnAnswer::AlreadyConfirmed)
                );
            }
            assert_eq!(
                IpnAnswer::InvalidSignature.json(),
                r#"{"RspCode":"97","Message":"Invalid signature"}"#
            );
        }

        #[test]
        fn querydr_and_refund_hashes_join_raw_values() {
            assert_eq!(
                querydr_data(
                    "R1",
                    "DVCTEST1",
                    "T1",
                    "20261204100000",
                    "20261204110000",
                    "127.0.0.1",
                    "Truy van"
                ),
                "R1|2.1.0|querydr|DVCTEST1|T1|20261204100000|20261204110000|127.0.0.1|Truy van"
            );
            assert_eq!(
                refund_data(
                    "R2",
                    "DVCTEST1",
                    "02",
                    "T1",
                    "1000000",
                    "14000001",
                    "20261204100000",
                    "can.bo",
                    "20261204110000",
                    "127.0.0.1",
                    "Hoan tien"
                ),
                "R2|2.1.0|refund|DVCTEST1|02|T1|1000000|14000001|20261204100000|can.bo|20261204110000|127.0.0.1|Hoan tien"
            );
        }

        proptest! {
            /// Any change to a signed parameter set (a value altered, a parameter dropped or
            /// added, the hash truncated) fails verification; reordering does not matter
            /// (the data is sorted), and verification never panics.
            #[test]
            fn tampering_is_detected(
                amount in 1u64..10_000_000_000,
                code in "[0-9]{2}",
                txn in "[A-Za-z0-9]{1,20}",
                junk in "[ -~]{0,10}",
                cut in 1usize..128,
                which in 0usize..9,
            ) {
                let p = report_params(&txn, amount, &code);
                prop_assert!(verify(SECRET, &p));
                let keys: Vec<String> = p.keys().filter(|k| k.as_str() != "vnp_SecureHash").cloned().collect();
                let k = &keys[which % keys.len()];
                let mut altered = p.clone();
                let old = altered.get(k).cloned().unwrap_or_default();
                altered.insert(k.clone(), format!("{old}{}", if junk.is_empty() { "x" } else { &junk }));
                prop_assert!(!verify(SECRET, &altered));
                let mut dropped = p.clone();
                dropped.remove(k);
                prop_assert!(!verify(SECRET, &dropped));
                let mut added = p.clone();
                added.insert("vnp_Extra".into(), "1".into());
                prop_assert!(!verify(SECRET, &added));
                let mut truncated = p.clone();
                let h = truncated.get("vnp_SecureHash").cloned().unwrap_or_default();
                truncated.insert("vnp_SecureHash".into(), h[..h.len() - cut].to_string());
                prop_assert!(!verify(SECRET, &truncated));
                let mut no_hash = p.clone();
                no_hash.remove("vnp_SecureHash");
                prop_assert!(!verify(SECRET, &no_hash));
            }

            #[test]
            fn verify_never_panics(pairs in prop::collection::btree_map("vnp_[A-Za-z]{0,8}", ".{0,20}", 0..8)) {
                let _ = verify(SECRET, &pairs);
                let _ = check_ipn(SECRET, "DVCTEST1", &pairs, |_| None);
            }

            #[test]
            fn form_encoding_round_trips(s in ".{0,40}") {
                let enc = form_encode(&s);
                prop_assert!(enc.bytes().all(|b| b.is_ascii_alphanumeric() || b"*-._+%".contains(&b)));
                let back: Vec<(String, String)> = url_decode_pairs(&format!("k={enc}"));
                prop_assert_eq!(&back[0].1, &s);
            }
        }

        fn url_decode_pairs(q: &str) -> Vec<(String, String)> {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (dec(k), dec(v)))
                .collect()
        }

        fn dec(s: &str) -> String {
            let b = s.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < b.len() {
                match b[i] {
                    b'+' => out.push(b' '),
                    b'%' if i + 2 < b.len() => {
                        let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("00");
                        out.push(u8::from_str_radix(h, 16).unwrap_or(0));
                        i += 2;
                    }
                    c => out.push(c),
                }
                i += 1;
            }
            String::from_utf8_lossy(&out).into_owned()
        }
    }
}
