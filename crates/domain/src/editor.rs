//! The procedure editor of the back office, as pure functions: the editor's fields (level-1
//! information as one box per item, lists one line per entry with `|` between columns, and the
//! online form as TOML) to a [`Procedure`] and back, and TOML import/export in the `catalog/`
//! format. Every problem is a Vietnamese message naming the box and, for TOML, the line.
//!
//! A list entry edited here keeps what the editor does not show (e.g. `bring_original` of a
//! document, the lawful extra time, the workflow, the sources): the edited columns are laid over
//! the entry of the version being edited with the same key (document id, fee label, legal number).

use crate::catalog::{CatalogError, Procedure};
use crate::form::FormDefinition;
use std::collections::BTreeMap;

/// One problem, for the box `field` of the editor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditorError {
    pub field: String,
    pub message: String,
}

fn err(field: &str, message: impl Into<String>) -> EditorError {
    EditorError {
        field: field.into(),
        message: message.into(),
    }
}

/// The boxes of the editor, by name, as posted.
pub type Input = BTreeMap<String, String>;

/// The line (1-based) of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text.get(..at.min(text.len()))
        .map(|s| s.matches('\n').count() + 1)
        .unwrap_or(1)
}

/// A TOML problem in Vietnamese, with its line.
fn toml_message(text: &str, e: &toml::de::Error) -> String {
    let raw = e.message();
    let what = if let Some(rest) = raw.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or("");
        format!("không có mục “{name}” (kiểm tra chính tả tên mục)")
    } else if let Some(rest) = raw.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or("");
        format!("thiếu mục bắt buộc “{name}”")
    } else if let Some(rest) = raw.strip_prefix("unknown variant `") {
        let name = rest.split('`').next().unwrap_or("");
        format!("giá trị “{name}” không nằm trong các giá trị cho phép")
    } else if raw.starts_with("invalid type") {
        "kiểu giá trị không đúng (ví dụ: chữ phải đặt trong dấu nháy kép, số thì không, true/false cho có/không)".to_string()
    } else if raw.contains("duplicate key") {
        "một mục được khai hai lần".to_string()
    } else {
        "cú pháp TOML không đúng (thiếu dấu nháy, dấu =, dấu ngoặc hoặc xuống dòng sai chỗ)"
            .to_string()
    };
    match e.span() {
        Some(span) => format!("Dòng {}: {what}.", line_of(text, span.start)),
        None => format!("{}.", upper_first(&what)),
    }
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// The line of the first `"name"` in `text`, to point at a field named in a check's message.
fn line_naming(text: &str, name: &str) -> Option<usize> {
    text.find(&format!("\"{name}\""))
        .map(|at| line_of(text, at))
}

/// Parses the online form box (the `[form]` part of a catalogue file without the `form.`
/// prefix: `title = …`, `[[sections]]`, `[[sections.fields]]`). Empty: no online form.
pub fn parse_form(text: &str) -> Result<Option<FormDefinition>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let form: FormDefinition = toml::from_str(text).map_err(|e| toml_message(text, &e))?;
    if let Err(e) = form.check() {
        let name = match &e {
            crate::form::FormDefinitionError::BadName(n)
            | crate::form::FormDefinitionError::Duplicate(n)
            | crate::form::FormDefinitionError::MissingOptions(n)
            | crate::form::FormDefinitionError::BadPattern(n)
            | crate::form::FormDefinitionError::BadRepeat(n)
            | crate::form::FormDefinitionError::BadCondition(n, _)
            | crate::form::FormDefinitionError::FileInRepeat(n, _) => n.clone(),
        };
        let msg = upper_first(&e.to_string());
        return Err(match line_naming(text, &name) {
            Some(line) => format!("Dòng {line}: {msg}."),
            None => format!("{msg}."),
        });
    }
    Ok(Some(form))
}

/// The online form as the editor's TOML box shows it.
pub fn form_toml(form: Option<&FormDefinition>) -> String {
    form.and_then(|f| toml::to_string(f).ok())
        .unwrap_or_default()
}

/// A whole procedure from a catalogue file (import), checked; the message names the line.
pub fn parse_procedure(text: &str) -> Result<Procedure, String> {
    let p: Procedure = toml::from_str(text).map_err(|e| toml_message(text, &e))?;
    p.check().map_err(|e| match e {
        CatalogError::Invalid { problem, .. } => upper_first(&problem) + ".",
        CatalogError::Parse(m) => m,
    })?;
    Ok(p)
}

/// A procedure as a catalogue file (export), readable by [`parse_procedure`] and by
/// `dichvucong import-catalog`.
pub fn procedure_toml(p: &Procedure) -> String {
    toml::to_string(p).unwrap_or_default()
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(|l| crate::text::clean_input(l).trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn columns(line: &str) -> Vec<String> {
    line.split('|').map(|c| c.trim().to_string()).collect()
}

fn yes_no(v: &str) -> Option<bool> {
    match crate::text::fold(v).as_str() {
        "co" | "x" | "bat buoc" | "1" => Some(true),
        "khong" | "" | "0" => Some(false),
        _ => None,
    }
}

fn number(v: &str) -> Option<i64> {
    let compact: String = v
        .chars()
        .filter(|c| !matches!(c, '.' | ' ' | ','))
        .collect();
    compact.parse().ok()
}

/// The boxes of the editor filled from a procedure (for editing it).
pub fn to_input(p: &Procedure) -> Input {
    let mut m = Input::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_string(), v);
    };
    put("code", p.code.clone());
    put("name", p.name.clone());
    put("field", p.field.clone());
    put("level", p.level.number().to_string());
    put("online_class", p.online_class.slug().to_string());
    put("implementing_kind", p.implementing_kind.clone());
    put("implementing_agency", p.implementing_agency.clone());
    put("applicants", p.applicants.clone());
    put("steps", p.steps.join("\n"));
    put(
        "methods",
        p.methods
            .iter()
            .map(|x| {
                format!(
                    "{} | {} | {} | {}",
                    x.channel,
                    x.time,
                    x.fee,
                    x.note.clone().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
    );
    put(
        "documents",
        p.documents
            .iter()
            .map(|d| {
                format!(
                    "{} | {} | {} | {} | {} | {}",
                    d.id,
                    d.name,
                    d.originals,
                    d.copies,
                    if d.required { "có" } else { "không" },
                    d.note.clone().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
    );
    put("dossier_sets", p.dossier_sets.to_string());
    put("processing_text", p.processing_time.text.clone());
    put("working_days", p.processing_time.working_days.to_string());
    put(
        "cutoff_hour",
        p.processing_time
            .cutoff_hour
            .map(|h| h.to_string())
            .unwrap_or_default(),
    );
    put(
        "fees",
        p.fees
            .iter()
            .map(|f| {
                format!(
                    "{} | {} | {} | {}",
                    f.label,
                    f.amount_vnd.map(|a| a.to_string()).unwrap_or_default(),
                    f.online_amount_vnd
                        .map(|a| a.to_string())
                        .unwrap_or_default(),
                    f.note.clone().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
    );
    put("fee_note", p.fee_note.clone().unwrap_or_default());
    put("result", p.result.clone());
    put("conditions", p.conditions.join("\n"));
    put(
        "legal_basis",
        p.legal_basis
            .iter()
            .map(|l| {
                format!(
                    "{} | {} | {}",
                    l.number,
                    l.title,
                    l.issued.clone().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
    );
    put("templates", p.templates.join("\n"));
    put("form", form_toml(p.form.as_ref()));
    m
}

/// The list entries of `base` (a TOML array of tables) by the value of `key`.
fn base_entries(
    base: Option<&toml::Table>,
    list: &str,
    key: &str,
) -> BTreeMap<String, toml::Table> {
    base.and_then(|b| b.get(list))
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_table())
                .filter_map(|t| {
                    t.get(key)
                        .and_then(|k| k.as_str())
                        .map(|k| (k.to_string(), t.clone()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn opt_str(t: &mut toml::Table, k: &str, v: &str) {
    if v.is_empty() {
        t.remove(k);
    } else {
        t.insert(k.into(), toml::Value::String(v.into()));
    }
}

/// A procedure from the editor's boxes, laid over `base` (the version being edited; `None` for
/// a new procedure). Every problem found, each for its box.
pub fn from_input(input: &Input, base: Option<&Procedure>) -> Result<Procedure, Vec<EditorError>> {
    let get = |k: &str| {
        input
            .get(k)
            .map(|v| crate::text::clean_input(v).trim().to_string())
            .unwrap_or_default()
    };
    let mut errors = Vec::new();
    let base_table: Option<toml::Table> = base.and_then(|b| toml::Table::try_from(b).ok());
    let mut t = base_table.clone().unwrap_or_default();
    let code = match base {
        Some(b) => b.code.clone(),
        None => get("code"),
    };
    t.insert("code".into(), code.clone().into());
    for (k, label) in [
        ("name", "tên thủ tục"),
        ("field", "lĩnh vực"),
        ("implementing_kind", "cấp thực hiện"),
        ("implementing_agency", "cơ quan thực hiện"),
        ("applicants", "đối tượng thực hiện"),
        ("result", "kết quả thực hiện"),
    ] {
        let v = get(k);
        if v.is_empty() {
            errors.push(err(k, format!("Nhập {label}.")));
        }
        t.insert(k.into(), v.into());
    }
    match get("level").parse::<i64>() {
        Ok(l @ 1..=4) => {
            t.insert("level".into(), l.into());
        }
        _ => errors.push(err("level", "Chọn mức độ từ 1 đến 4.")),
    }
    let class = get("online_class");
    if !["toan_trinh", "mot_phan", "none"].contains(&class.as_str()) {
        errors.push(err("online_class", "Chọn hình thức cung cấp trực tuyến."));
    }
    t.insert("online_class".into(), class.into());
    let steps = lines(&get("steps"));
    if steps.is_empty() {
        errors.push(err(
            "steps",
            "Nhập ít nhất một bước thực hiện, mỗi bước một dòng.",
        ));
    }
    t.insert("steps".into(), steps.into());
    t.insert("conditions".into(), lines(&get("conditions")).into());
    t.insert("templates".into(), lines(&get("templates")).into());
    opt_str(&mut t, "fee_note", &get("fee_note"));

    // Cách thức: kênh | thời hạn | phí | ghi chú.
    let old = base_entries(base_table.as_ref(), "methods", "channel");
    let mut methods = Vec::new();
    for (i, l) in lines(&get("methods")).iter().enumerate() {
        let c = columns(l);
        if c.len() < 3 || c[0].is_empty() {
            errors.push(err("methods", format!("Cách thức thực hiện, dòng {}: ghi “kênh | thời hạn | phí | ghi chú”, ví dụ “Trực tuyến | 03 ngày làm việc | Miễn phí |”.", i + 1)));
            continue;
        }
        let mut e = old.get(&c[0]).cloned().unwrap_or_default();
        e.insert("channel".into(), c[0].clone().into());
        e.insert("time".into(), c[1].clone().into());
        e.insert("fee".into(), c[2].clone().into());
        opt_str(&mut e, "note", c.get(3).map(String::as_str).unwrap_or(""));
        methods.push(toml::Value::Table(e));
    }
    t.insert("methods".into(), methods.into());

    // Thành phần hồ sơ: mã | tên | bản chính | bản sao | bắt buộc | ghi chú.
    let old = base_entries(base_table.as_ref(), "documents", "id");
    let mut documents = Vec::new();
    for (i, l) in lines(&get("documents")).iter().enumerate() {
        let c = columns(l);
        let id_ok = c.first().is_some_and(|id| {
            !id.is_empty()
                && id
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
        });
        let originals = c.get(2).map(|v| number(v).unwrap_or(-1)).unwrap_or(0);
        let copies = c.get(3).map(|v| number(v).unwrap_or(-1)).unwrap_or(0);
        let required = c.get(4).map(|v| yes_no(v)).unwrap_or(Some(true));
        if !id_ok
            || c.len() < 2
            || c[1].is_empty()
            || originals < 0
            || copies < 0
            || required.is_none()
        {
            errors.push(err("documents", format!("Thành phần hồ sơ, dòng {}: ghi “mã | tên giấy tờ | số bản chính | số bản sao | bắt buộc (có/không) | ghi chú”; mã chỉ gồm a–z, 0–9 và _.", i + 1)));
            continue;
        }
        let mut e = old.get(&c[0]).cloned().unwrap_or_default();
        e.insert("id".into(), c[0].clone().into());
        e.insert("name".into(), c[1].clone().into());
        e.insert("originals".into(), originals.into());
        e.insert("copies".into(), copies.into());
        e.insert("required".into(), required.unwrap_or(true).into());
        opt_str(&mut e, "note", c.get(5).map(String::as_str).unwrap_or(""));
        documents.push(toml::Value::Table(e));
    }
    t.insert("documents".into(), documents.into());
    match number(&get("dossier_sets")) {
        Some(n @ 1..=20) => {
            t.insert("dossier_sets".into(), n.into());
        }
        _ => errors.push(err("dossier_sets", "Số lượng hồ sơ phải từ 1 đến 20 bộ.")),
    }

    // Thời hạn giải quyết.
    let mut pt = t
        .get("processing_time")
        .and_then(|v| v.as_table())
        .cloned()
        .unwrap_or_default();
    let text = get("processing_text");
    if text.is_empty() {
        errors.push(err(
            "processing_text",
            "Nhập thời hạn giải quyết theo quy định.",
        ));
    }
    pt.insert("text".into(), text.into());
    match number(&get("working_days")) {
        Some(n @ 0..=365) => {
            pt.insert("working_days".into(), n.into());
        }
        _ => errors.push(err(
            "working_days",
            "Số ngày làm việc phải là số từ 0 đến 365 (0: trong ngày).",
        )),
    }
    let cutoff = get("cutoff_hour");
    if cutoff.is_empty() {
        pt.remove("cutoff_hour");
    } else {
        match number(&cutoff) {
            Some(h @ 0..=23) => {
                pt.insert("cutoff_hour".into(), h.into());
            }
            _ => errors.push(err(
                "cutoff_hour",
                "Giờ chốt nhận hồ sơ phải từ 0 đến 23, hoặc để trống.",
            )),
        }
    }
    t.insert("processing_time".into(), toml::Value::Table(pt));

    // Phí, lệ phí: tên | số tiền (đồng) | số tiền khi nộp trực tuyến | ghi chú.
    let old = base_entries(base_table.as_ref(), "fees", "label");
    let mut fees = Vec::new();
    for (i, l) in lines(&get("fees")).iter().enumerate() {
        let c = columns(l);
        let amount = |k: usize| -> Result<Option<i64>, ()> {
            match c.get(k).map(String::as_str).unwrap_or("") {
                "" => Ok(None),
                v => number(v).filter(|n| *n >= 0).map(Some).ok_or(()),
            }
        };
        let (Some(label), Ok(a), Ok(o)) =
            (c.first().filter(|l| !l.is_empty()), amount(1), amount(2))
        else {
            errors.push(err("fees", format!("Phí, lệ phí, dòng {}: ghi “tên | số tiền (đồng) | số tiền khi nộp trực tuyến | ghi chú”, số tiền chỉ gồm chữ số, để trống nếu không có.", i + 1)));
            continue;
        };
        let mut e = old.get(label).cloned().unwrap_or_default();
        e.insert("label".into(), label.clone().into());
        match a {
            Some(a) => e.insert("amount_vnd".into(), a.into()),
            None => e.remove("amount_vnd"),
        };
        match o {
            Some(o) => e.insert("online_amount_vnd".into(), o.into()),
            None => e.remove("online_amount_vnd"),
        };
        opt_str(&mut e, "note", c.get(3).map(String::as_str).unwrap_or(""));
        fees.push(toml::Value::Table(e));
    }
    t.insert("fees".into(), fees.into());

    // Căn cứ pháp lý: số hiệu | trích yếu | ngày ban hành (YYYY-MM-DD).
    let old = base_entries(base_table.as_ref(), "legal_basis", "number");
    let mut legal = Vec::new();
    for (i, l) in lines(&get("legal_basis")).iter().enumerate() {
        let c = columns(l);
        let issued = c.get(2).cloned().unwrap_or_default();
        let date_ok = issued.is_empty() || crate::form::parse_date(&issued).is_some();
        if c.len() < 2 || c[0].is_empty() || c[1].is_empty() || !date_ok {
            errors.push(err("legal_basis", format!("Căn cứ pháp lý, dòng {}: ghi “số hiệu | trích yếu | ngày ban hành (năm-tháng-ngày)”, ví dụ “60/2014/QH13 | Luật Hộ tịch | 2014-11-20”.", i + 1)));
            continue;
        }
        let mut e = old.get(&c[0]).cloned().unwrap_or_default();
        e.insert("number".into(), c[0].clone().into());
        e.insert("title".into(), c[1].clone().into());
        let issued = crate::form::parse_date(&issued)
            .map(|d| d.to_string())
            .unwrap_or_default();
        opt_str(&mut e, "issued", &issued);
        legal.push(toml::Value::Table(e));
    }
    t.insert("legal_basis".into(), legal.into());

    // Biểu mẫu trực tuyến.
    match parse_form(input.get("form").map(String::as_str).unwrap_or("")) {
        Ok(Some(f)) => match toml::Value::try_from(&f) {
            Ok(v) => {
                t.insert("form".into(), v);
            }
            Err(_) => errors.push(err(
                "form",
                "Biểu mẫu không lưu được; kiểm tra lại nội dung.",
            )),
        },
        Ok(None) => {
            t.remove("form");
        }
        Err(m) => errors.push(err("form", format!("Biểu mẫu trực tuyến: {m}"))),
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let p: Procedure = match toml::Value::Table(t).try_into() {
        Ok(p) => p,
        Err(e) => {
            return Err(vec![err(
                "name",
                format!("Thông tin thủ tục không hợp lệ: {}", e.message()),
            )]);
        }
    };
    if let Err(e) = p.check() {
        let problem = match e {
            CatalogError::Invalid { problem, .. } => problem,
            CatalogError::Parse(m) => m,
        };
        let message = upper_first(&problem) + ".";
        let field = if problem.contains("mã thủ tục") {
            "code"
        } else if problem.contains("biểu mẫu") || problem.contains("trường") {
            "form"
        } else if problem.contains("giấy tờ") {
            "documents"
        } else {
            "name"
        };
        return Err(vec![err(field, message)]);
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Procedure {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../catalog/procedures/1.001022-dang-ky-nhan-cha-me-con.toml"
        ))
        .expect("sample");
        Procedure::from_toml(&text).expect("valid")
    }

    #[test]
    fn editor_round_trip_keeps_the_procedure() {
        let p = sample();
        let input = to_input(&p);
        let back = from_input(&input, Some(&p)).expect("valid");
        assert_eq!(back, p);
        // Export and import agree too.
        assert_eq!(parse_procedure(&procedure_toml(&p)).expect("import"), p);
    }

    #[test]
    fn edits_keep_what_the_editor_does_not_show() {
        let p = sample();
        let mut input = to_input(&p);
        input.insert("name".into(), "Đăng ký nhận cha, mẹ, con (sửa)".into());
        let doc = p
            .documents
            .iter()
            .find(|d| d.bring_original)
            .map(|d| d.id.clone());
        let back = from_input(&input, Some(&p)).expect("valid");
        assert_eq!(back.name, "Đăng ký nhận cha, mẹ, con (sửa)");
        assert_eq!(back.sources, p.sources);
        if let Some(id) = doc {
            assert!(
                back.documents
                    .iter()
                    .any(|d| d.id == id && d.bring_original)
            );
        }
    }

    #[test]
    fn problems_name_the_box_and_the_line() {
        let p = sample();
        let mut input = to_input(&p);
        input.insert("level".into(), "7".into());
        input.insert("fees".into(), "Lệ phí | mười nghìn".into());
        input.insert(
            "form".into(),
            "title = \"T\"\n\n[[sections]]\ntitle = \"A\"\n[[sections.fields]]\nname = \"x\"\nlabel = \"X\"\ntype = \"texte\"\n".into(),
        );
        let errs = from_input(&input, Some(&p)).expect_err("invalid");
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["level", "fees", "form"]);
        assert!(errs[2].message.contains("Dòng 8"), "{}", errs[2].message);
        assert!(errs[2].message.contains("texte"), "{}", errs[2].message);
        // A check of the form points at the field's line.
        let e = parse_form("[[sections]]\ntitle = \"A\"\n[[sections.fields]]\nname = \"a\"\nlabel = \"A\"\ntype = \"text\"\n[[sections.fields]]\nname = \"a\"\nlabel = \"B\"\ntype = \"text\"\n")
            .expect_err("duplicate");
        assert!(e.starts_with("Dòng 4: "), "{e}");
        assert!(e.contains("bị trùng"), "{e}");
        // Syntax.
        let e = parse_form("[[sections]\ntitle = \"A\"").expect_err("syntax");
        assert!(e.starts_with("Dòng 1: cú pháp"), "{e}");
    }

    #[test]
    fn a_new_procedure_needs_its_code_and_basics() {
        let errs = from_input(&Input::new(), None).expect_err("empty");
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "name",
            "field",
            "level",
            "online_class",
            "steps",
            "processing_text",
        ] {
            assert!(fields.contains(&f), "{f} not reported: {fields:?}");
        }
        let mut input = to_input(&sample());
        input.insert("code".into(), "khong hop le".into());
        let errs = from_input(&input, None).expect_err("bad code");
        assert_eq!(errs[0].field, "code");
    }
}
