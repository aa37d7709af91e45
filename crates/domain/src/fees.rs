//! Fees (phí, lệ phí) computed from the declaration.
//!
//! A procedure declares when its fee is paid ([`PaymentTiming`]: at filing, when the result is
//! returned, or not online) and its [`FeeRule`]s: an amount per unit, the unit count read from a
//! number answer ("per copy", "per page"), a lower price after the first units, a ceiling, the
//! cases where the rule applies and the exemptions (e.g. khai sinh registered on time). [`quote`]
//! turns the answers into the amount and a line per rule saying how it was computed, which the
//! review page, the confirmation and the receipt show.
//!
//! Pure: the caller passes the filing date.

use crate::form::{Answers, FieldKind, FormDefinition, parse_date};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// When the citizen pays the procedure's fee online.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentTiming {
    /// Before the dossier is processed: filed, it waits for payment ("Chờ thanh toán").
    AtFiling,
    /// When the result is ready, before it is returned.
    AtResult,
    /// No online payment (free, or paid at the desk).
    #[default]
    None,
}

impl PaymentTiming {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentTiming::AtFiling => "at_filing",
            PaymentTiming::AtResult => "at_result",
            PaymentTiming::None => "none",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            PaymentTiming::AtFiling => "Thanh toán trực tuyến khi nộp hồ sơ",
            PaymentTiming::AtResult => "Thanh toán trực tuyến khi nhận kết quả",
            PaymentTiming::None => "Không thanh toán trực tuyến",
        }
    }
}

/// A test on one answer. Exactly one of the tests is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The form field whose answer is tested.
    pub field: String,
    /// The answer is this value (a select/radio option, or "on" for a ticked checkbox).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// The answer is not this value (a missing answer counts as "not").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_equals: Option<String>,
    /// A date answer no more than this many days before the filing date (and not after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_days: Option<u32>,
    /// A date answer more than this many days before the filing date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub older_than_days: Option<u32>,
}

impl Condition {
    fn tests(&self) -> usize {
        usize::from(self.equals.is_some())
            + usize::from(self.not_equals.is_some())
            + usize::from(self.within_days.is_some())
            + usize::from(self.older_than_days.is_some())
    }

    /// Whether the condition holds for `answers` on `today`.
    pub fn holds(&self, answers: &Answers, today: Date) -> bool {
        let value = answers
            .get(&self.field)
            .and_then(|v| v.first())
            .map(|s| s.trim())
            .filter(|s| !s.is_empty());
        if let Some(e) = &self.equals {
            return value == Some(e.as_str());
        }
        if let Some(e) = &self.not_equals {
            return value != Some(e.as_str());
        }
        let days_ago = value
            .and_then(parse_date)
            .and_then(|d| today.since(d).ok())
            .map(|span| i64::from(span.get_days()));
        if let Some(n) = self.within_days {
            return days_ago.is_some_and(|d| (0..=i64::from(n)).contains(&d));
        }
        if let Some(n) = self.older_than_days {
            return days_ago.is_some_and(|d| d > i64::from(n));
        }
        false
    }
}

/// A case in which a rule's fee is waived, with its legal ground.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exemption {
    /// Shown to the citizen, e.g. "Đăng ký khai sinh đúng hạn (điểm b khoản 1 Điều 11 Luật Hộ tịch)".
    pub reason: String,
    /// Every condition must hold.
    pub when: Vec<Condition>,
}

/// One fee of a procedure, as a rule over the answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeRule {
    pub label: String,
    /// Price of one unit, in đồng.
    pub amount_vnd: u64,
    /// A number field giving the unit count (copies, pages); without it the count is 1. A
    /// missing answer counts as 0 units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per: Option<String>,
    /// The unit's name in words ("bản", "trang").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// With `then_amount_vnd`: the first this many units at `amount_vnd`, the rest at
    /// `then_amount_vnd` (e.g. chứng thực: 2.000 đồng for pages 1–2, 1.000 đồng from page 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_units: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then_amount_vnd: Option<u64>,
    /// Ceiling of this rule's amount (of one set, with `times`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_vnd: Option<u64>,
    /// A second number field multiplying the (capped) amount, e.g. the copies of a per-page
    /// fee ("tối đa 200.000 đồng/bản").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<String>,
    /// The rule applies only when every condition holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<Condition>,
    /// The first exemption that holds waives the fee.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exempt: Vec<Exemption>,
}

/// Most units one rule counts (a number answer is bounded by its field anyway).
pub const MAX_UNITS: u64 = 10_000;

/// One line of a quote: what a rule charges and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeLine {
    pub label: String,
    pub amount_vnd: u64,
    /// How the amount was computed, in words ("2 bản × 10.000 đồng = 20.000 đồng").
    pub explanation: String,
    /// The exemption applied, if any.
    #[serde(default)]
    pub exempt: Option<String>,
}

/// The fee of one declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub timing: PaymentTiming,
    pub lines: Vec<FeeLine>,
    pub total_vnd: u64,
}

impl Quote {
    /// Nothing to pay online.
    pub fn none() -> Quote {
        Quote {
            timing: PaymentTiming::None,
            lines: vec![],
            total_vnd: 0,
        }
    }

    /// The dossier must be paid before it is processed.
    pub fn owes_at_filing(&self) -> bool {
        self.timing == PaymentTiming::AtFiling && self.total_vnd > 0
    }

    /// Something is to be paid online (now or at the result).
    pub fn owes_online(&self) -> bool {
        self.timing != PaymentTiming::None && self.total_vnd > 0
    }
}

/// `12345678` → "12.345.678 đồng".
pub fn format_vnd(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + 10);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out.push_str(" đồng");
    out
}

fn count(field: Option<&String>, answers: &Answers) -> u64 {
    match field {
        None => 1,
        Some(f) => answers
            .get(f)
            .and_then(|v| v.first())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0)
            .min(MAX_UNITS),
    }
}

fn line(rule: &FeeRule, answers: &Answers, today: Date) -> Option<FeeLine> {
    if !rule.when.iter().all(|c| c.holds(answers, today)) {
        return None;
    }
    if let Some(x) = rule
        .exempt
        .iter()
        .find(|x| x.when.iter().all(|c| c.holds(answers, today)))
    {
        return Some(FeeLine {
            label: rule.label.clone(),
            amount_vnd: 0,
            explanation: format!("Miễn: {}", x.reason),
            exempt: Some(x.reason.clone()),
        });
    }
    let n = count(rule.per.as_ref(), answers);
    let unit = rule.unit.as_deref().unwrap_or("lần");
    let (raw, mut explanation) = match (rule.first_units, rule.then_amount_vnd) {
        (Some(first), Some(then)) if n > u64::from(first) => {
            let first = u64::from(first);
            let rest = n - first;
            let raw = first
                .saturating_mul(rule.amount_vnd)
                .saturating_add(rest.saturating_mul(then));
            (
                raw,
                format!(
                    "{first} {unit} × {} + {rest} {unit} × {}",
                    format_vnd(rule.amount_vnd),
                    format_vnd(then)
                ),
            )
        }
        _ if rule.per.is_some() => (
            n.saturating_mul(rule.amount_vnd),
            format!("{n} {unit} × {}", format_vnd(rule.amount_vnd)),
        ),
        _ => (rule.amount_vnd, format_vnd(rule.amount_vnd)),
    };
    let amount = match rule.max_vnd {
        Some(max) if raw > max => {
            explanation.push_str(&format!(
                " = {}, tối đa {}",
                format_vnd(raw),
                format_vnd(max)
            ));
            max
        }
        _ => raw,
    };
    let (amount, explanation) = match &rule.times {
        None => {
            if rule.per.is_some() || rule.max_vnd.is_some_and(|m| raw > m) {
                explanation.push_str(&format!(" = {}", format_vnd(amount)));
            }
            (amount, explanation)
        }
        Some(_) => {
            let k = count(rule.times.as_ref(), answers);
            let total = amount.saturating_mul(k);
            let per_set = if rule.max_vnd.is_some_and(|m| raw > m) {
                explanation
            } else {
                format!("{explanation} = {}", format_vnd(amount))
            };
            (
                total,
                format!("({per_set}) × {k} bản = {}", format_vnd(total)),
            )
        }
    };
    Some(FeeLine {
        label: rule.label.clone(),
        amount_vnd: amount,
        explanation,
        exempt: None,
    })
}

/// The fee of a declaration with `answers`, filed on `today` (Asia/Ho_Chi_Minh).
pub fn quote(rules: &[FeeRule], timing: PaymentTiming, answers: &Answers, today: Date) -> Quote {
    let lines: Vec<FeeLine> = rules
        .iter()
        .filter_map(|r| line(r, answers, today))
        .collect();
    let total_vnd = lines
        .iter()
        .fold(0u64, |t, l| t.saturating_add(l.amount_vnd));
    Quote {
        timing,
        lines,
        total_vnd,
    }
}

/// Checks a procedure's rules against its declaration: every field named exists and has the
/// kind its test needs, every condition has exactly one test, amounts are plausible.
pub fn check(
    rules: &[FeeRule],
    timing: PaymentTiming,
    form: Option<&FormDefinition>,
) -> Result<(), String> {
    if timing != PaymentTiming::None && rules.is_empty() {
        return Err("thủ tục thu phí trực tuyến (payment) phải khai báo fee_rules".into());
    }
    let kind = |name: &str| {
        form.and_then(|f| f.field(name))
            .map(|f| f.kind)
            .ok_or_else(|| format!("quy tắc phí dùng trường {name} không có trong biểu mẫu"))
    };
    for r in rules {
        if r.label.trim().is_empty() {
            return Err("mỗi quy tắc phí phải có tên (label)".into());
        }
        // Amounts VNPay can carry: 12 digits of amount × 100.
        if r.amount_vnd > 1_000_000_000 || r.then_amount_vnd.is_some_and(|a| a > 1_000_000_000) {
            return Err(format!("phí {}: số tiền quá lớn", r.label));
        }
        if r.first_units.is_some() != r.then_amount_vnd.is_some() {
            return Err(format!(
                "phí {}: first_units và then_amount_vnd phải khai cùng nhau",
                r.label
            ));
        }
        for f in r.per.iter().chain(r.times.iter()) {
            if kind(f)? != FieldKind::Number {
                return Err(format!("phí {}: trường {f} phải là số", r.label));
            }
        }
        let conditions = r.when.iter().chain(r.exempt.iter().flat_map(|x| &x.when));
        for c in conditions {
            if c.tests() != 1 {
                return Err(format!(
                    "phí {}: điều kiện trên trường {} phải có đúng một phép thử",
                    r.label, c.field
                ));
            }
            let k = kind(&c.field)?;
            if (c.within_days.is_some() || c.older_than_days.is_some()) && k != FieldKind::Date {
                return Err(format!(
                    "phí {}: trường {} phải là ngày tháng",
                    r.label, c.field
                ));
            }
        }
        if r.exempt.iter().any(|x| x.reason.trim().is_empty()) {
            return Err(format!("phí {}: trường hợp miễn phải ghi lý do", r.label));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn answers(pairs: &[(&str, &str)]) -> Answers {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
            .collect()
    }

    fn today() -> Date {
        Date::new(2026, 12, 4).expect("date")
    }

    fn per_copy() -> FeeRule {
        FeeRule {
            label: "Lệ phí cấp giấy".into(),
            amount_vnd: 10_000,
            per: Some("so_ban".into()),
            unit: Some("bản".into()),
            first_units: None,
            then_amount_vnd: None,
            max_vnd: None,
            times: None,
            when: vec![],
            exempt: vec![],
        }
    }

    #[test]
    fn per_copy_multiplies_and_explains() {
        let q = quote(
            &[per_copy()],
            PaymentTiming::AtFiling,
            &answers(&[("so_ban", "3")]),
            today(),
        );
        assert_eq!(q.total_vnd, 30_000);
        assert_eq!(q.lines[0].explanation, "3 bản × 10.000 đồng = 30.000 đồng");
        assert!(q.owes_at_filing());
        let none = quote(
            &[per_copy()],
            PaymentTiming::AtFiling,
            &Answers::new(),
            today(),
        );
        assert_eq!(none.total_vnd, 0);
        assert!(!none.owes_at_filing());
    }

    #[test]
    fn per_page_tiers_and_ceiling() {
        let rule = FeeRule {
            label: "Phí chứng thực bản sao".into(),
            amount_vnd: 2_000,
            per: Some("so_trang".into()),
            unit: Some("trang".into()),
            first_units: Some(2),
            then_amount_vnd: Some(1_000),
            max_vnd: Some(200_000),
            ..per_copy()
        };
        let q = |pages: &str| {
            quote(
                std::slice::from_ref(&rule),
                PaymentTiming::AtResult,
                &answers(&[("so_trang", pages)]),
                today(),
            )
        };
        assert_eq!(q("1").total_vnd, 2_000);
        assert_eq!(q("2").total_vnd, 4_000);
        assert_eq!(q("5").total_vnd, 7_000);
        assert_eq!(
            q("5").lines[0].explanation,
            "2 trang × 2.000 đồng + 3 trang × 1.000 đồng = 7.000 đồng"
        );
        assert_eq!(q("500").total_vnd, 200_000);
        assert!(
            q("500").lines[0]
                .explanation
                .contains("tối đa 200.000 đồng")
        );
        // Per copy of a per-page fee.
        let copies = FeeRule {
            times: Some("so_ban".into()),
            ..rule.clone()
        };
        let q = quote(
            &[copies],
            PaymentTiming::None,
            &answers(&[("so_trang", "5"), ("so_ban", "3")]),
            today(),
        );
        assert_eq!(q.total_vnd, 21_000);
        assert_eq!(
            q.lines[0].explanation,
            "(2 trang × 2.000 đồng + 3 trang × 1.000 đồng = 7.000 đồng) × 3 bản = 21.000 đồng"
        );
    }

    #[test]
    fn khai_sinh_on_time_is_exempt_and_late_is_charged() {
        let rule = FeeRule {
            label: "Lệ phí đăng ký khai sinh".into(),
            amount_vnd: 8_000,
            per: None,
            unit: None,
            exempt: vec![Exemption {
                reason: "Đăng ký khai sinh đúng hạn".into(),
                when: vec![Condition {
                    field: "tre_ngay_sinh".into(),
                    within_days: Some(60),
                    ..Condition::default()
                }],
            }],
            ..per_copy()
        };
        let on_time = quote(
            std::slice::from_ref(&rule),
            PaymentTiming::AtResult,
            &answers(&[("tre_ngay_sinh", "2026-11-01")]),
            today(),
        );
        assert_eq!(on_time.total_vnd, 0);
        assert_eq!(
            on_time.lines[0].exempt.as_deref(),
            Some("Đăng ký khai sinh đúng hạn")
        );
        assert!(!on_time.owes_online());
        let late = quote(
            std::slice::from_ref(&rule),
            PaymentTiming::AtResult,
            &answers(&[("tre_ngay_sinh", "2026-01-01")]),
            today(),
        );
        assert_eq!(late.total_vnd, 8_000);
        assert_eq!(late.lines[0].explanation, "8.000 đồng");
        assert!(late.owes_online() && !late.owes_at_filing());
    }

    #[test]
    fn when_conditions_select_rules() {
        let rule = FeeRule {
            when: vec![Condition {
                field: "muc_dich".into(),
                not_equals: Some("ket_hon".into()),
                ..Condition::default()
            }],
            ..per_copy()
        };
        let a = answers(&[("muc_dich", "ket_hon"), ("so_ban", "1")]);
        assert!(
            quote(
                std::slice::from_ref(&rule),
                PaymentTiming::AtFiling,
                &a,
                today()
            )
            .lines
            .is_empty()
        );
        let b = answers(&[("muc_dich", "khac"), ("so_ban", "1")]);
        assert_eq!(
            quote(&[rule], PaymentTiming::AtFiling, &b, today()).total_vnd,
            10_000
        );
    }

    #[test]
    fn formats_vnd() {
        assert_eq!(format_vnd(0), "0 đồng");
        assert_eq!(format_vnd(999), "999 đồng");
        assert_eq!(format_vnd(1_000), "1.000 đồng");
        assert_eq!(format_vnd(12_345_678), "12.345.678 đồng");
    }

    proptest! {
        /// The total is the sum of the lines, never more than the ceilings, monotone in the
        /// unit count, and never panics whatever the answers.
        #[test]
        fn totals_add_up(n in 0u64..20_000, junk in ".{0,12}", amount in 0u64..1_000_000, then in 0u64..1_000_000, max in 1u64..5_000_000) {
            let rule = FeeRule { amount_vnd: amount, first_units: Some(2), then_amount_vnd: Some(then), max_vnd: Some(max), ..per_copy() };
            let q = quote(std::slice::from_ref(&rule), PaymentTiming::AtFiling, &answers(&[("so_ban", &n.to_string())]), today());
            prop_assert_eq!(q.total_vnd, q.lines.iter().map(|l| l.amount_vnd).sum::<u64>());
            prop_assert!(q.total_vnd <= max);
            let more = quote(std::slice::from_ref(&rule), PaymentTiming::AtFiling, &answers(&[("so_ban", &(n + 1).to_string())]), today());
            prop_assert!(more.total_vnd >= q.total_vnd);
            let _ = quote(&[rule], PaymentTiming::AtFiling, &answers(&[("so_ban", &junk)]), today());
        }
    }
}
