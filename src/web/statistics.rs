//! Public statistics (`/thong-ke`), their exports (`/api/v1/statistics`, JSON or CSV) and the
//! report the back-office dashboard shares: the figures of an agency and its sub-units over a
//! period, the QĐ 766 indicators, and accessible SVG charts drawn on the server.
//!
//! Counting rules: [`dvc_domain::statistics`]; sums: [`crate::store::statistics`].

use super::AppState;
use super::extract::LenientQuery;
use super::templates::{render, render_status, ser};
use crate::error::{AppError, AppResult};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dvc_domain::agency::Agency;
use dvc_domain::statistics::{
    self as st, Counts, Figures, GroupTotal, Indicator, Metric, Period, PeriodError,
};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Which agencies a report covers: one agency and all its sub-units.
#[derive(Debug, Clone)]
pub struct Scope {
    pub code: String,
    pub name: String,
    /// Agency codes included; `None`: every agency (the whole installation).
    pub agencies: Option<Vec<String>>,
    /// Rows of the per-unit breakdown: the agency's own dossiers, then each direct sub-unit with
    /// its own sub-units.
    pub units: Vec<Unit>,
}

#[derive(Debug, Clone)]
pub struct Unit {
    pub code: String,
    pub name: String,
    pub members: Vec<String>,
}

/// The agency and every descendant (any depth), the agency first.
pub fn subtree(all: &[Agency], code: &str) -> Vec<String> {
    let mut out = vec![code.to_string()];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i].clone();
        for a in all
            .iter()
            .filter(|a| a.parent.as_ref().is_some_and(|p| p.as_str() == parent))
        {
            let c = a.code.to_string();
            if !out.contains(&c) {
                out.push(c);
            }
        }
        i += 1;
    }
    out
}

const ALL_AGENCIES: &str = "Tất cả cơ quan";

/// The scope of `code` (empty: the root of the agency tree, or every agency when there are
/// several roots). `limit_to`: the agencies an official may see (the dashboard).
pub fn scope(
    all: &[Agency],
    code: Option<&str>,
    limit_to: Option<&[String]>,
) -> Result<Scope, String> {
    let code = code.map(str::trim).filter(|c| !c.is_empty());
    let roots: Vec<&Agency> = match limit_to {
        None => all.iter().filter(|a| a.parent.is_none()).collect(),
        Some(visible) => all
            .iter()
            .filter(|a| visible.contains(&a.code.to_string()))
            .filter(|a| {
                a.parent
                    .as_ref()
                    .is_none_or(|p| !visible.contains(&p.to_string()))
            })
            .collect(),
    };
    let agency = match code {
        Some(c) => {
            let found = all.iter().find(|a| a.code.as_str() == c).ok_or_else(|| {
                format!(
                    "Không có cơ quan có mã “{}”. Chọn cơ quan trong danh sách.",
                    c.chars().take(40).collect::<String>()
                )
            })?;
            if let Some(visible) = limit_to
                && !visible.contains(&found.code.to_string())
            {
                return Err(
                    "Cơ quan này không thuộc phạm vi đơn vị của bạn. Chọn cơ quan trong danh sách."
                        .into(),
                );
            }
            Some(found)
        }
        None if roots.len() == 1 => roots.first().copied(),
        None => None,
    };
    let unit_of = |a: &Agency| Unit {
        code: a.code.to_string(),
        name: a.name.clone(),
        members: subtree(all, a.code.as_str()),
    };
    Ok(match agency {
        Some(a) => {
            let members = subtree(all, a.code.as_str());
            let mut units = vec![Unit {
                code: a.code.to_string(),
                name: a.name.clone(),
                members: vec![a.code.to_string()],
            }];
            units.extend(
                all.iter()
                    .filter(|c| c.parent.as_ref() == Some(&a.code))
                    .map(unit_of),
            );
            let everything = limit_to.is_none() && members.len() == all.len();
            Scope {
                code: a.code.to_string(),
                name: a.name.clone(),
                agencies: if everything { None } else { Some(members) },
                units,
            }
        }
        None => {
            let agencies = limit_to.map(|v| v.to_vec());
            Scope {
                code: String::new(),
                name: ALL_AGENCIES.into(),
                agencies,
                units: roots.into_iter().map(unit_of).collect(),
            }
        }
    })
}

/// One row of the per-unit breakdown.
#[derive(Debug, Clone, Serialize)]
pub struct UnitRow {
    pub code: String,
    pub name: String,
    #[serde(skip)]
    pub figures: Figures,
    pub received: i64,
    pub on_time_percent: Option<f64>,
}

/// One month of the trend.
#[derive(Debug, Clone, Serialize)]
pub struct MonthRow {
    /// "2026-01".
    pub month: String,
    /// "Tháng 1/2026".
    pub label: String,
    #[serde(skip)]
    pub counts: Counts,
    pub received: i64,
    pub done: i64,
}

/// Everything a statistics page or export shows.
#[derive(Debug, Clone)]
pub struct Report {
    pub scope: Scope,
    pub period: Period,
    pub figures: Figures,
    pub indicators: Vec<Indicator>,
    pub groups: Vec<GroupTotal>,
    pub months: Vec<MonthRow>,
    pub units: Vec<UnitRow>,
    pub generated_at: i64,
}

fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 10_000.0 / whole as f64).round() / 100.0)
}

fn on_time_percent(f: &Figures) -> Option<f64> {
    percent(f.on_time(), f.counts.get(Metric::Counted))
}

fn done(c: &Counts) -> i64 {
    c.get(Metric::DoneEarly) + c.get(Metric::DoneOnTime) + c.get(Metric::DoneLate)
}

pub async fn report(state: &AppState, scope: Scope, period: Period) -> AppResult<Report> {
    let now = state.clock.now_ms();
    let table = state
        .statistics
        .table(&state.db, scope.agencies.as_deref(), &period, now)
        .await?;
    let figures_of = |members: Option<&[String]>| {
        let inside = |a: &str| members.is_none_or(|m| m.iter().any(|x| x == a));
        let mut f = Figures::default();
        for c in table.cells.iter().filter(|c| inside(&c.agency)) {
            f.counts.add(&c.counts);
        }
        for o in table.open_late.iter().filter(|o| inside(&o.agency)) {
            f.in_progress_late += o.in_progress;
            f.awaiting_late += o.awaiting;
        }
        f
    };
    let figures = figures_of(None);
    let months = period
        .months()
        .into_iter()
        .map(|(y, m, first, _)| {
            let key = st::month_of_day(first);
            let mut counts = Counts::default();
            for c in table.cells.iter().filter(|c| c.month == key) {
                counts.add(&c.counts);
            }
            MonthRow {
                month: format!("{y:04}-{m:02}"),
                label: format!("Tháng {m}/{y}"),
                received: counts.received(),
                done: done(&counts),
                counts,
            }
        })
        .collect();
    let units = scope
        .units
        .iter()
        .map(|u| {
            let f = figures_of(Some(&u.members));
            UnitRow {
                code: u.code.clone(),
                name: u.name.clone(),
                received: f.counts.received(),
                on_time_percent: on_time_percent(&f),
                figures: f,
            }
        })
        .collect();
    let indicators = st::indicators(&figures);
    let groups = st::group_totals(&indicators);
    Ok(Report {
        scope,
        period,
        figures,
        indicators,
        groups,
        months,
        units,
        generated_at: now,
    })
}

/// The figures in the order the page, the JSON and the CSV give them: (key, label, value,
/// anchor of the definition).
pub fn figure_rows(f: &Figures) -> Vec<(&'static str, &'static str, i64, String)> {
    use Metric as M;
    let c = &f.counts;
    let m = |m: Metric| {
        (
            m.column(),
            m.label(),
            c.get(m),
            format!("dn-{}", m.column()),
        )
    };
    vec![
        (
            "received",
            "Tổng số hồ sơ tiếp nhận",
            c.received(),
            "dn-received".into(),
        ),
        m(M::ReceivedOnline),
        m(M::ReceivedDirect),
        m(M::ReceivedPost),
        m(M::DoneEarly),
        m(M::DoneOnTime),
        m(M::DoneLate),
        (
            "in_progress_on_time",
            "Đang xử lý trong hạn",
            f.in_progress_on_time(),
            "dn-in_progress".into(),
        ),
        (
            "in_progress_late",
            "Đang xử lý quá hạn",
            f.in_progress_late,
            "dn-in_progress".into(),
        ),
        m(M::Awaiting),
        m(M::Refused),
        m(M::Stopped),
        m(M::Withdrawn),
        m(M::Extended),
        m(M::Supplemented),
        m(M::FeeDue),
        m(M::PaidOnline),
        m(M::ElectronicResult),
        m(M::Digitised),
        m(M::Reused),
        m(M::RatedVerySatisfied),
        m(M::RatedSatisfied),
        m(M::RatedDissatisfied),
    ]
}

// ---------------------------------------------------------------------------------------------
// Charts: hand-written SVG, styled by classes of the site's stylesheet (the CSP forbids inline
// styles), each with a title and a description, and the same figures in a table next to it.

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// 1, 2 or 5 × 10^k at or above `max` (at least 1).
fn nice_max(max: f64) -> f64 {
    if max <= 1.0 {
        return 1.0;
    }
    let mag = 10f64.powf(max.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * mag >= max {
            return m * mag;
        }
    }
    10.0 * mag
}

fn num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.2}").replace('.', ",")
    }
}

/// Horizontal bars, one per row: the bars are an SVG (`role="img"`, a title, a description, a
/// `<title>` per bar); the labels and values are HTML beside it, in rows of the same height
/// (2 em: the SVG's height is set in em from the number of rows), because text drawn inside an
/// SVG has the SVG as its background, which contrast checkers cannot measure.
pub fn hbar_chart(
    id: &str,
    title: &str,
    desc: &str,
    bars: &[(String, f64, String)],
    max: Option<f64>,
) -> String {
    let n = bars.len().max(1);
    let top = bars.iter().map(|b| b.1).fold(0.0, f64::max);
    let max = max.unwrap_or_else(|| nice_max(top));
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 {}" preserveAspectRatio="none" width="100%" height="{}em" role="img" aria-labelledby="{id}-t {id}-d" class="chart-bars" focusable="false"><title id="{id}-t">{}</title><desc id="{id}-d">{}</desc>"#,
        n * 10,
        n * 2,
        esc(title),
        esc(desc)
    );
    let mut labels = String::new();
    let mut values = String::new();
    for (i, (label, v, text)) in bars.iter().enumerate() {
        let len = if max > 0.0 {
            (v / max).clamp(0.0, 1.0) * 100.0
        } else {
            0.0
        };
        let _ = write!(
            svg,
            r#"<rect x="0" y="{}" width="{:.2}" height="6" class="chart-bar"><title>{}: {}</title></rect>"#,
            i * 10 + 2,
            len.max(0.5),
            esc(label),
            esc(text)
        );
        let _ = write!(labels, "<li>{}</li>", esc(label));
        let _ = write!(values, "<li>{}</li>", esc(text));
    }
    svg.push_str("</svg>");
    format!(
        r#"<div class="chart" id="{id}"><ol class="chart-labels" aria-hidden="true">{labels}</ol><div class="chart-plot">{svg}</div><ol class="chart-values" aria-hidden="true">{values}</ol></div>"#
    )
}

fn pct_text(p: Option<f64>) -> String {
    p.map(|p| format!("{}%", num(p)))
        .unwrap_or_else(|| "chưa có hồ sơ".into())
}

/// The three charts of a report (monthly trend, on-time share per unit, channel mix).
pub fn charts(r: &Report) -> Vec<Value> {
    let months: Vec<(String, f64, String)> = r
        .months
        .iter()
        .map(|m| {
            (
                m.label.clone(),
                m.received as f64,
                format!("{} hồ sơ", m.received),
            )
        })
        .collect();
    let total: i64 = r.months.iter().map(|m| m.received).sum();
    // Horizontal bars, one per month in order: every text long enough for contrast checkers to
    // measure, and no crowded labels on a phone.
    let trend = hbar_chart(
        "bieu-do-xu-huong",
        "Số hồ sơ tiếp nhận theo tháng",
        &format!(
            "Biểu đồ thanh ngang, mỗi tháng một thanh theo thứ tự thời gian: {} hồ sơ tiếp nhận trong {} tháng, từ {}. Số liệu từng tháng ở bảng ngay sau biểu đồ.",
            total,
            r.months.len(),
            r.period.label()
        ),
        &months,
        None,
    );
    let units: Vec<(String, f64, String)> = r
        .units
        .iter()
        .map(|u| {
            (
                u.name.clone(),
                u.on_time_percent.unwrap_or(0.0),
                pct_text(u.on_time_percent),
            )
        })
        .collect();
    let on_time = hbar_chart(
        "bieu-do-dung-han",
        "Tỷ lệ hồ sơ xử lý trước hạn, đúng hạn theo đơn vị",
        &format!(
            "Biểu đồ thanh ngang, thang 0–100%: tỷ lệ của {} đơn vị. Số liệu ở bảng ngay sau biểu đồ.",
            units.len()
        ),
        &units,
        Some(100.0),
    );
    let c = &r.figures.counts;
    let received = c.received();
    let channels: Vec<(String, f64, String)> = [
        Metric::ReceivedOnline,
        Metric::ReceivedDirect,
        Metric::ReceivedPost,
    ]
    .iter()
    .map(|m| {
        let n = c.get(*m);
        (
            m.label().to_string(),
            n as f64,
            format!("{n} ({})", pct_text(percent(n, received))),
        )
    })
    .collect();
    let mix = hbar_chart(
        "bieu-do-kenh",
        "Hồ sơ tiếp nhận theo kênh",
        &format!(
            "Biểu đồ thanh ngang: {received} hồ sơ theo ba kênh trực tuyến, trực tiếp và bưu chính công ích. Số liệu ở bảng ngay sau biểu đồ."
        ),
        &channels,
        None,
    );
    vec![
        Value::from_safe_string(trend),
        Value::from_safe_string(on_time),
        Value::from_safe_string(mix),
    ]
}

/// The report as template context (shared by the public page and the dashboard).
pub fn report_context(r: &Report) -> Value {
    let figures: Vec<Value> = figure_rows(&r.figures)
        .into_iter()
        .map(|(key, label, value, anchor)| context! { key, label, value, anchor })
        .collect();
    let c = &r.figures.counts;
    let received = c.received();
    let channels: Vec<Value> = [
        Metric::ReceivedOnline,
        Metric::ReceivedDirect,
        Metric::ReceivedPost,
    ]
    .iter()
    .map(|m| context! { label => m.label(), value => c.get(*m), share => pct_text(percent(c.get(*m), received)) })
    .collect();
    let units: Vec<Value> = r
        .units
        .iter()
        .map(|u| {
            context! {
                code => u.code.clone(), name => u.name.clone(), received => u.received,
                late => u.figures.late(), on_time => pct_text(u.on_time_percent),
            }
        })
        .collect();
    let definitions: Vec<Value> = Metric::ALL
        .iter()
        .map(|m| context! { anchor => format!("dn-{}", m.column()), label => m.label(), text => m.definition() })
        .collect();
    context! {
        agency_name => r.scope.name.clone(),
        agency_code => r.scope.code.clone(),
        period => r.period.label(),
        generated_at => super::templates::format_datetime(r.generated_at),
        figures,
        indicators => ser(&r.indicators),
        groups => ser(&r.groups),
        months => ser(&r.months),
        units,
        channels,
        charts => charts(r),
        definitions,
    }
}

// ---------------------------------------------------------------------------------------------
// Filters.

/// The filters of `/thong-ke` (and of the dashboard).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct Params {
    /// Agency code (with its sub-units); empty: the whole tree.
    pub co_quan: Option<String>,
    pub nam: Option<String>,
    /// `ca-nam`, `quy-1`…`quy-4`, `thang-1`…`thang-12`.
    pub ky: Option<String>,
    /// From/to dates (`YYYY-MM-DD`): override the year and period.
    pub tu: Option<String>,
    pub den: Option<String>,
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The period the filters ask for; the message says how to fix them.
pub fn period_of(p: &Params, today: jiff::civil::Date) -> Result<Period, String> {
    let err = |e: PeriodError| e.to_string();
    match (non_empty(&p.tu), non_empty(&p.den)) {
        (Some(a), Some(b)) => {
            let from = st::parse_date(a).map_err(|_| {
                "Từ ngày: viết theo dạng năm-tháng-ngày, ví dụ 2026-01-01.".to_string()
            })?;
            let to = st::parse_date(b).map_err(|_| {
                "Đến ngày: viết theo dạng năm-tháng-ngày, ví dụ 2026-12-31.".to_string()
            })?;
            return Period::between(from, to).map_err(err);
        }
        (Some(_), None) => {
            return Err(
                "Nhập cả “Đến ngày”, hoặc để trống cả hai ô ngày để xem theo năm, quý, tháng."
                    .into(),
            );
        }
        (None, Some(_)) => {
            return Err(
                "Nhập cả “Từ ngày”, hoặc để trống cả hai ô ngày để xem theo năm, quý, tháng."
                    .into(),
            );
        }
        (None, None) => {}
    }
    let year = match non_empty(&p.nam) {
        None => today.year(),
        Some(y) => y.parse::<i16>().map_err(|_| err(PeriodError::Year))?,
    };
    match non_empty(&p.ky).unwrap_or("ca-nam") {
        "ca-nam" => Period::year(year).map_err(err),
        k => {
            if let Some(q) = k.strip_prefix("quy-") {
                let q = q.parse::<i8>().map_err(|_| err(PeriodError::Quarter))?;
                Period::quarter(year, q).map_err(err)
            } else if let Some(m) = k.strip_prefix("thang-") {
                let m = m.parse::<i8>().map_err(|_| err(PeriodError::Month))?;
                Period::month(year, m).map_err(err)
            } else {
                Err("Kỳ phải là cả năm, một quý (quy-1 đến quy-4) hoặc một tháng (thang-1 đến thang-12).".into())
            }
        }
    }
}

/// The options of the filter form, the current choice selected.
pub fn form_context(
    all: &[Agency],
    visible: Option<&[String]>,
    p: &Params,
    today: jiff::civil::Date,
) -> Value {
    fn depth(all: &[Agency], a: &Agency) -> usize {
        let mut d = 0;
        let mut cur = a.parent.clone();
        while let Some(p) = cur {
            d += 1;
            cur = all
                .iter()
                .find(|x| x.code == p)
                .and_then(|x| x.parent.clone());
            if d > 20 {
                break;
            }
        }
        d
    }
    let selected = non_empty(&p.co_quan).unwrap_or("");
    let agencies: Vec<Value> = all
        .iter()
        .filter(|a| visible.is_none_or(|v| v.contains(&a.code.to_string())))
        .map(|a| {
            let d = depth(all, a);
            context! {
                code => a.code.to_string(),
                name => format!("{}{}", "— ".repeat(d), a.name),
                selected => a.code.as_str() == selected,
            }
        })
        .collect();
    let this_year = today.year();
    let year = non_empty(&p.nam)
        .and_then(|y| y.parse::<i16>().ok())
        .unwrap_or(this_year);
    let years: Vec<Value> = (2022..=this_year.max(2022))
        .rev()
        .map(|y| context! { value => y, selected => y == year })
        .collect();
    let ky = non_empty(&p.ky).unwrap_or("ca-nam");
    let mut periods =
        vec![context! { value => "ca-nam", label => "Cả năm", selected => ky == "ca-nam" }];
    for (q, roman) in [(1, "I"), (2, "II"), (3, "III"), (4, "IV")] {
        let v = format!("quy-{q}");
        periods.push(context! { label => format!("Quý {roman}"), selected => ky == v, value => v });
    }
    for m in 1..=12 {
        let v = format!("thang-{m}");
        periods.push(context! { label => format!("Tháng {m}"), selected => ky == v, value => v });
    }
    context! {
        agencies, years, periods,
        tu => non_empty(&p.tu).unwrap_or(""), den => non_empty(&p.den).unwrap_or(""),
        all_selected => selected.is_empty(),
    }
}

/// The query string of the exports for a report.
fn export_query(r: &Report) -> String {
    format!(
        "agency={}&from={}&to={}",
        r.scope.code, r.period.from, r.period.to
    )
}

/// `GET /thong-ke`.
pub async fn page(
    State(state): State<AppState>,
    LenientQuery(p): LenientQuery<Params>,
) -> AppResult<Response> {
    let catalog = state.catalog();
    let today = state.clock.today_vn();
    let form = form_context(&catalog.agencies, None, &p, today);
    let resolved = period_of(&p, today).and_then(|period| {
        Ok((
            scope(&catalog.agencies, non_empty(&p.co_quan), None)?,
            period,
        ))
    });
    let (scope, period) = match resolved {
        Ok(x) => x,
        Err(message) => {
            return render_status(
                StatusCode::BAD_REQUEST,
                "statistics.html",
                context! { form, error => message },
            );
        }
    };
    let r = report(&state, scope, period).await?;
    let exports = export_query(&r);
    Ok(render(
        "statistics.html",
        context! { form, report => report_context(&r), exports },
    )?
    .into_response())
}

// ---------------------------------------------------------------------------------------------
// Exports.

/// Query of `GET /api/v1/statistics`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct ApiParams {
    /// Agency code; its sub-units are included. Absent: every agency.
    pub agency: Option<String>,
    /// First day (`YYYY-MM-DD`, Vietnam time); with `to`. Absent: the current year.
    pub from: Option<String>,
    /// Last day, included (`YYYY-MM-DD`).
    pub to: Option<String>,
    /// `json` (default) or `csv` (UTF-8 with BOM, for Excel).
    pub format: Option<String>,
}

/// The figures and indicators as the API returns them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatisticsDoc {
    /// The agency (with its sub-units); empty code: every agency.
    pub agency: AgencyRef,
    /// First day, `YYYY-MM-DD`.
    pub from: String,
    /// Last day (included), `YYYY-MM-DD`.
    pub to: String,
    /// When the figures were read (RFC 3339).
    pub generated_at: String,
    /// Counts of the dossiers received in the period, by key (see the page's definitions).
    #[schema(value_type = Object)]
    pub counts: serde_json::Map<String, serde_json::Value>,
    /// QĐ 766 indicators: code, name, formula, source, threshold, max_points, value
    /// (`{state: rate, percent, numerator, denominator}` or `{state: not_applicable, reason}`),
    /// points.
    #[schema(value_type = Vec<Object>)]
    pub indicators: Vec<Indicator>,
    /// Points per QĐ 766 group.
    #[schema(value_type = Vec<Object>)]
    pub groups: Vec<GroupTotal>,
    /// Per month: received and finished with a result.
    #[schema(value_type = Vec<Object>)]
    pub months: Vec<MonthRow>,
    /// Per unit: the agency's own dossiers, then each direct sub-unit with its sub-units.
    #[schema(value_type = Vec<Object>)]
    pub units: Vec<UnitRow>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgencyRef {
    pub code: String,
    pub name: String,
}

fn doc(r: &Report) -> StatisticsDoc {
    let mut counts = serde_json::Map::new();
    for (key, _, value, _) in figure_rows(&r.figures) {
        counts.insert(key.into(), value.into());
    }
    for m in Metric::ALL {
        counts
            .entry(m.column())
            .or_insert(r.figures.counts.get(m).into());
    }
    counts.insert("awaiting_late".into(), r.figures.awaiting_late.into());
    counts.insert("late".into(), r.figures.late().into());
    counts.insert("on_time".into(), r.figures.on_time().into());
    StatisticsDoc {
        agency: AgencyRef {
            code: r.scope.code.clone(),
            name: r.scope.name.clone(),
        },
        from: r.period.from.to_string(),
        to: r.period.to.to_string(),
        generated_at: crate::ts(r.generated_at).to_string(),
        counts,
        indicators: r.indicators.clone(),
        groups: r.groups.clone(),
        months: r.months.clone(),
        units: r.units.clone(),
    }
}

/// The CSV columns: the unit, the period, every figure, then each indicator's rate.
pub fn csv_header(r: &Report) -> Vec<String> {
    let mut h = vec![
        "Mã cơ quan".to_string(),
        "Tên cơ quan".to_string(),
        "Phạm vi".to_string(),
        "Từ ngày".to_string(),
        "Đến ngày".to_string(),
    ];
    h.extend(
        figure_rows(&r.figures)
            .into_iter()
            .map(|(_, l, _, _)| l.to_string()),
    );
    h.extend(
        r.indicators
            .iter()
            .map(|i| format!("Chỉ số {} (%): {}", i.code, i.name)),
    );
    h
}

fn csv_cell(s: &str) -> String {
    // A cell starting like a formula is quoted with a leading apostrophe (CSV injection).
    let s = if s.starts_with(['=', '+', '-', '@']) && s.parse::<f64>().is_err() {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub fn csv(r: &Report) -> String {
    let mut out = String::from("\u{feff}");
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .map(|c| csv_cell(c))
            .collect::<Vec<_>>()
            .join(",")
            + "\r\n"
    };
    out.push_str(&line(csv_header(r)));
    let row = |code: &str, name: &str, scope: &str, f: &Figures| {
        let mut cells = vec![
            code.to_string(),
            name.to_string(),
            scope.to_string(),
            r.period.from.to_string(),
            r.period.to.to_string(),
        ];
        cells.extend(figure_rows(f).into_iter().map(|(_, _, v, _)| v.to_string()));
        cells.extend(st::indicators(f).iter().map(|i| match &i.value {
            st::Value::Rate { percent, .. } => format!("{percent}"),
            st::Value::NotApplicable { .. } => String::new(),
        }));
        cells
    };
    out.push_str(&line(row(
        &r.scope.code,
        &r.scope.name,
        "Tổng (gồm đơn vị trực thuộc)",
        &r.figures,
    )));
    for (i, u) in r.units.iter().enumerate() {
        let scope = if i == 0 && u.code == r.scope.code {
            "Riêng cơ quan"
        } else {
            "Đơn vị (gồm đơn vị trực thuộc)"
        };
        out.push_str(&line(row(&u.code, &u.name, scope, &u.figures)));
    }
    out
}

fn problem(detail: String) -> Response {
    super::api::bad_request_problem(detail)
}

/// The counts and QĐ 766 indicators of an agency (with its sub-units) over a period, as JSON or
/// CSV.
#[utoipa::path(get, path = "/api/v1/statistics", params(ApiParams),
    responses((status = 200, description = "Số liệu thống kê và chỉ số QĐ 766 (JSON; CSV UTF-8 có BOM khi format=csv)", body = StatisticsDoc),
        (status = 400, description = "Tham số không hợp lệ", body = super::api::Problem, content_type = "application/problem+json")))]
pub async fn api(
    State(state): State<AppState>,
    LenientQuery(p): LenientQuery<ApiParams>,
) -> Response {
    let csv_wanted = match p.format.as_deref().map(str::trim) {
        None | Some("") | Some("json") => false,
        Some("csv") => true,
        Some(_) => return problem("Tham số format chỉ nhận json hoặc csv.".into()),
    };
    let today = state.clock.today_vn();
    let params = Params {
        co_quan: p.agency.clone(),
        nam: None,
        ky: None,
        tu: p.from.clone(),
        den: p.to.clone(),
    };
    let period = match period_of(&params, today) {
        Ok(period) => period,
        Err(m) => {
            return problem(
                m.replace("Từ ngày", "Tham số from")
                    .replace("Đến ngày", "Tham số to")
                    .replace("“Đến ngày”", "to")
                    .replace("“Từ ngày”", "from"),
            );
        }
    };
    let catalog = state.catalog();
    let scope = match scope(&catalog.agencies, non_empty(&p.agency), None) {
        Ok(s) => s,
        Err(m) => {
            return problem(m.replace(
                "Chọn cơ quan trong danh sách",
                "Dùng một mã cơ quan có trong /api/v1/procedures/{code} (agencies)",
            ));
        }
    };
    let r = match report(&state, scope, period).await {
        Ok(r) => r,
        Err(e) => return crate::error::ApiError(e).into_response(),
    };
    if csv_wanted {
        let name = format!(
            "thong-ke-{}-{}-{}.csv",
            if r.scope.code.is_empty() {
                "tat-ca"
            } else {
                &r.scope.code
            },
            r.period.from,
            r.period.to
        );
        let mut resp = csv(&r).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
            resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
        }
        resp
    } else {
        axum::Json(doc(&r)).into_response()
    }
}

impl From<PeriodError> for AppError {
    fn from(e: PeriodError) -> Self {
        AppError::BadRequest(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_accessible_svg() {
        let svg = hbar_chart(
            "x",
            "Tiêu đề <a>",
            "Mô tả",
            &[("Ủy ban & xã".into(), 50.0, "50%".into())],
            Some(100.0),
        );
        assert!(svg.contains("<svg") && svg.contains(r#"role="img""#));
        assert!(!svg.contains("<text"), "no text inside the SVG: {svg}");
        assert!(svg.contains(r#"<title id="x-t">Tiêu đề &lt;a&gt;</title>"#));
        assert!(svg.contains("Ủy ban &amp; xã"));
        assert!(!svg.contains("style="));
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(120.0), 200.0);
    }

    #[test]
    fn csv_cells_are_safe() {
        assert_eq!(csv_cell("=1+1"), "'=1+1");
        assert_eq!(csv_cell("-5"), "-5");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
    }

    #[test]
    fn periods_from_the_form() {
        let today = jiff::civil::Date::constant(2026, 12, 4);
        let p = |nam: &str, ky: &str, tu: &str, den: &str| Params {
            co_quan: None,
            nam: Some(nam.into()),
            ky: Some(ky.into()),
            tu: Some(tu.into()),
            den: Some(den.into()),
        };
        assert_eq!(
            period_of(&Params::default(), today).map(|p| p.from),
            Ok(jiff::civil::Date::constant(2026, 1, 1))
        );
        assert_eq!(
            period_of(&p("2025", "quy-2", "", ""), today).map(|p| p.to),
            Ok(jiff::civil::Date::constant(2025, 6, 30))
        );
        assert!(period_of(&p("2025", "thang-13", "", ""), today).is_err());
        assert!(period_of(&p("abc", "", "", ""), today).is_err());
        assert!(period_of(&p("", "", "2026-01-01", ""), today).is_err());
        assert_eq!(
            period_of(&p("", "", "2026-01-01", "2026-01-31"), today).map(|p| p.to),
            Ok(jiff::civil::Date::constant(2026, 1, 31))
        );
    }
}
