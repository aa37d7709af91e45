//! Hostile-input property tests ("fuzzing" without nightly): the form validation, the dossier-code
//! parser, the text folding and the upload inspection get thousands of generated inputs each,
//! with a fixed number of cases so that a CI run takes seconds. Besides "never panics", each
//! target checks what its output promises.
//!
//! Longer runs: `DVC_FUZZ_FACTOR=20 cargo test -p dvc-domain --test hostile` multiplies every
//! case count (a failure prints the smallest input found and is saved under
//! `tests/hostile.proptest-regressions`, replayed first on the next run).

use dvc_domain::agency::AgencyCode;
use dvc_domain::dossier::DossierCode;
use dvc_domain::form::{
    self, Field, FieldKind, FieldOption, FileKind, FormDefinition, RawAnswers, Section,
};
use dvc_domain::text::{clean_input, fold, mask_name, matches_all_words};
use dvc_domain::upload::{self, MAX_PIXELS, Refusal};
use jiff::civil::Date;
use proptest::prelude::*;
use proptest::test_runner::Config;
use std::collections::BTreeSet;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Cases per target, times `DVC_FUZZ_FACTOR` (default 1).
fn cases(n: u32) -> Config {
    let factor: u32 = std::env::var("DVC_FUZZ_FACTOR")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    Config::with_cases(n.saturating_mul(factor.max(1)))
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/// Strings that break naive code: controls, NUL, CR/LF, bidi overrides, combining marks,
/// lookalikes, very long runs, numbers and dates at the edges.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        2 => "[ -~]{0,40}",
        2 => "[a-zA-ZàáảãạăắằẳẵặâấầẩẫậđèéẻẽẹêếềểễệìíỉĩịòóỏõọôốồổỗộơớờởỡợùúủũụưứừửữựỳýỷỹỵĐ \\n\\t]{0,40}",
        1 => Just(String::new()),
        1 => Just("\u{0}".to_string()),
        1 => Just(" \r\n\t ".to_string()),
        1 => Just("a\u{0}b\u{1b}[31mc\u{7f}".to_string()),
        1 => Just("\u{202e}gpj.exe".to_string()),
        1 => Just("e\u{301}\u{301}\u{301}".to_string()),
        1 => Just("\u{feff}0912345678".to_string()),
        1 => Just("x".repeat(10_001)),
        1 => Just("á".repeat(5_001)),
        1 => Just("9".repeat(400)),
        1 => Just("e\u{0}\u{301} a\u{7}\u{303}".to_string()),
        1 => prop_oneof![
            Just("1e308"), Just("-1e309"), Just("NaN"), Just("inf"), Just("-0"), Just("1,5"),
            Just("1 000"), Just("0x10"), Just("1e-400"),
            Just("123456789012345678"), Just("-9223372036854775809"), Just(" 2 "),
        ].prop_map(str::to_string),
        1 => prop_oneof![
            Just("31/02/2020"), Just("29/02/2000"), Just("29/02/1900"), Just("2020-02-29"),
            Just("0001-01-01"), Just("9999-12-31"), Just("1899-12-31"), Just("1/1/1900"),
            Just("32/13/2020"), Just("-1/-1/-1"), Just("2026-11-28"), Just("2099-01-01"),
            Just("1990-3-7"), Just("27/03/1990/1"), Just("127/03/1990"), Just("//"),
        ].prop_map(str::to_string),
        1 => prop_oneof![
            Just("an@example.vn"), Just("AN@EXAMPLE.VN"), Just("a@b"), Just("@x.vn"),
            Just("a@@x.vn"), Just("a@-x.vn"), Just("a@x..vn"), Just("a b@x.vn"),
            Just("a@xn--d1acufc.vn"), Just("\"a\"@x.vn"), Just("a@x.vn\n"), Just("ả@x.vn"),
        ].prop_map(str::to_string),
        1 => prop_oneof![
            Just("0912345678"), Just("+84912345678"), Just("84912345678"), Just("0212345678"),
            Just("091234567"), Just("09123456789"), Just("+84 (91) 234-5678"), Just("٠٩١٢٣٤٥٦٧٨"),
            Just("001203004567"), Just("000203004567"), Just("0012030045６7"), Just("001 203 004 567"),
        ].prop_map(str::to_string),
        1 => prop_oneof![Just("a"), Just("b"), Just("co"), Just("nam"), Just("A"), Just(" a ")]
            .prop_map(str::to_string),
    ]
}

fn field_kind() -> impl Strategy<Value = FieldKind> {
    prop_oneof![
        Just(FieldKind::Text),
        Just(FieldKind::Textarea),
        Just(FieldKind::Number),
        Just(FieldKind::Date),
        Just(FieldKind::Email),
        Just(FieldKind::Phone),
        Just(FieldKind::CitizenId),
        Just(FieldKind::Select),
        Just(FieldKind::Radio),
        Just(FieldKind::Checkbox),
        Just(FieldKind::File),
    ]
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-e]{1,2}",
        1 => "[a-z0-9_]{1,12}",
        1 => any::<String>(),
        1 => Just(form::applicant::FULL_NAME.to_string()),
    ]
}

fn pattern() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        4 => Just(None),
        1 => prop_oneof![
            Just("[0-9]+"), Just("[A-Z]{2}[0-9]{6}"), Just("(a|b)*"), Just(".*"), Just("\\p{L}+"),
            Just("["), Just("("), Just("a{2,1}"), Just("\\d{3}-\\d{2}"), Just("^$"), Just("x|"),
        ].prop_map(|p| Some(p.to_string())),
    ]
}

fn bound() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        3 => Just(None),
        2 => (-1e6f64..1e6).prop_map(Some),
        1 => prop_oneof![
            Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(0.0), Just(-0.0),
            Just(f64::MAX), Just(f64::MIN_POSITIVE),
        ].prop_map(Some),
    ]
}

fn length() -> impl Strategy<Value = Option<u32>> {
    prop_oneof![
        3 => Just(None),
        2 => (0u32..20).prop_map(Some),
        1 => prop_oneof![Just(0u32), Just(u32::MAX), Just(10_000)].prop_map(Some),
    ]
}

fn options() -> impl Strategy<Value = Vec<FieldOption>> {
    prop::collection::vec(
        (
            prop_oneof![Just("a"), Just("b"), Just("co"), Just("")],
            "[A-Z]{0,3}",
        )
            .prop_map(|(v, l)| FieldOption {
                value: v.to_string(),
                label: l,
                refuse: None,
            }),
        0..4,
    )
}

fn field() -> impl Strategy<Value = Field> {
    (
        (field_name(), "[ -~àđơư]{0,12}", field_kind(), any::<bool>()),
        (options(), length(), length(), pattern(), any::<bool>()),
        (bound(), bound(), any::<bool>(), prop::option::of(0u32..30)),
    )
        .prop_map(
            |(
                (name, label, kind, required),
                (options, min_length, max_length, pattern, custom_message),
                (min, max, not_future, max_size_mb),
            )| Field {
                name,
                label,
                kind,
                required,
                help: None,
                options,
                min_length,
                max_length,
                pattern_message: (custom_message && pattern.is_some())
                    .then(|| "Sai định dạng.".to_string()),
                pattern,
                min,
                max,
                not_future,
                document: None,
                max_size_mb,
                show_if: None,
                required_when: None,
            },
        )
}

fn form_definition() -> impl Strategy<Value = FormDefinition> {
    (
        prop::collection::vec(prop::collection::vec(field(), 0..6), 0..3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(mut sections, with_applicant, unique)| {
            // Mostly well-formed forms (as the catalogue import guarantees), sometimes not.
            if unique {
                let mut seen = BTreeSet::new();
                for (i, f) in sections.iter_mut().flatten().enumerate() {
                    let valid = !f.name.is_empty()
                        && f.name
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                    if !valid || !seen.insert(f.name.clone()) {
                        f.name = format!("f{i}");
                        seen.insert(f.name.clone());
                    }
                }
            }
            let f = FormDefinition {
                title: None,
                sections: sections
                    .into_iter()
                    .map(|fields| Section {
                        title: "Phần".into(),
                        description: None,
                        show_if: None,
                        repeat: None,
                        fields,
                    })
                    .collect(),
            };
            if with_applicant {
                f.with_applicant()
            } else {
                f
            }
        })
}

/// A form, answers keyed by its own field names (and strangers), and the uploaded file fields.
fn form_and_answers() -> impl Strategy<Value = (FormDefinition, RawAnswers, BTreeSet<String>)> {
    form_definition().prop_flat_map(|form| {
        let mut names: Vec<String> = form.fields().map(|f| f.name.clone()).collect();
        names.push("status".into());
        names.push("agency_code".into());
        names.push(String::new());
        let key = prop::sample::select(names.clone());
        let answers = prop::collection::btree_map(
            key,
            prop::collection::vec(nasty_string(), 0..4),
            0..names.len() + 2,
        );
        let uploaded = prop::collection::btree_set(prop::sample::select(names), 0..3);
        (Just(form), answers, uploaded)
    })
}

fn day() -> impl Strategy<Value = Date> {
    (1900i16..2100, 1i8..=12, 1i8..=28).prop_map(|(y, m, d)| Date::new(y, m, d).expect("date"))
}

// ---------------------------------------------------------------------------------------------
// (a) Form-data validation
// ---------------------------------------------------------------------------------------------

fn is_clean(s: &str) -> bool {
    s.chars().all(|c| !c.is_control() || c == '\n' || c == '\t')
        && s == s.trim()
        && s.nfc().eq(s.chars())
        && !s.is_empty()
}

/// What an accepted answer of each kind promises.
fn check_answer(f: &Field, values: &[String], today: Date) -> Result<(), String> {
    let one = || -> Result<&String, String> {
        match values {
            [v] => Ok(v),
            _ => Err(format!("{}: expected one value, got {values:?}", f.name)),
        }
    };
    match f.kind {
        FieldKind::Text | FieldKind::Textarea => {
            let v = one()?;
            let n = v.chars().count() as u32;
            let max = f.max_length.unwrap_or(if f.kind == FieldKind::Text {
                form::DEFAULT_MAX_TEXT
            } else {
                form::DEFAULT_MAX_TEXTAREA
            });
            if !is_clean(v) || n > max || f.min_length.is_some_and(|m| n < m) {
                return Err(format!("{}: text {v:?} breaks its bounds", f.name));
            }
            if f.kind == FieldKind::Text && v.contains('\n') {
                return Err(format!("{}: one-line text has a new line", f.name));
            }
        }
        FieldKind::Number => {
            let v = one()?;
            let n: f64 = v
                .parse()
                .map_err(|_| format!("{}: {v:?} not canonical", f.name))?;
            if !n.is_finite() || f.min.is_some_and(|m| n < m) || f.max.is_some_and(|m| n > m) {
                return Err(format!("{}: number {v:?} out of bounds", f.name));
            }
        }
        FieldKind::Date => {
            let v = one()?;
            let d = form::parse_date(v).ok_or_else(|| format!("{}: {v:?}", f.name))?;
            if d.to_string() != *v || d.year() < 1900 || (f.not_future && d > today) {
                return Err(format!("{}: date {v:?} not accepted", f.name));
            }
        }
        FieldKind::Email => {
            let v = one()?;
            if form::parse_email(v).as_ref() != Some(v) {
                return Err(format!("{}: e-mail {v:?} not canonical", f.name));
            }
        }
        FieldKind::Phone => {
            let v = one()?;
            let ok = v.len() == 10
                && v.bytes().all(|b| b.is_ascii_digit())
                && ["03", "05", "07", "08", "09"].contains(&&v[..2]);
            if !ok {
                return Err(format!("{}: phone {v:?}", f.name));
            }
        }
        FieldKind::CitizenId => {
            let v = one()?;
            if v.len() != 12 || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{}: id {v:?}", f.name));
            }
        }
        FieldKind::Select | FieldKind::Radio => {
            let v = one()?;
            if !f.options.iter().any(|o| &o.value == v) {
                return Err(format!("{}: {v:?} not an option", f.name));
            }
        }
        FieldKind::Checkbox => {
            let distinct: BTreeSet<&String> = values.iter().collect();
            let ok = !values.is_empty()
                && distinct.len() == values.len()
                && if f.options.is_empty() {
                    values == ["co"]
                } else {
                    values
                        .iter()
                        .all(|v| f.options.iter().any(|o| &o.value == v))
                };
            if !ok {
                return Err(format!("{}: checkbox {values:?}", f.name));
            }
        }
        FieldKind::File => return Err(format!("{}: a file field has an answer", f.name)),
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(3000))]

    #[test]
    fn validation_keeps_its_promises((form, raw, uploaded) in form_and_answers(), today in day()) {
        let result = form::validate(&form, &raw, &uploaded, today);
        // Same input, same answer.
        prop_assert_eq!(&result, &form::validate(&form, &raw, &uploaded, today));
        let names: BTreeSet<&str> = form.fields().map(|f| f.name.as_str()).collect();
        match result {
            Ok(answers) => {
                for (k, values) in &answers {
                    let f = form.field(k);
                    prop_assert!(f.is_some(), "answer for a field outside the form: {}", k);
                    if form.check().is_ok()
                        && let Some(f) = f
                        && let Err(e) = check_answer(f, values, today)
                    {
                        prop_assert!(false, "{}", e);
                    }
                }
                if form.check().is_ok() {
                    for f in form.fields().filter(|f| f.required) {
                        if f.kind == FieldKind::File {
                            prop_assert!(uploaded.contains(&f.name));
                        } else {
                            prop_assert!(answers.contains_key(&f.name), "required {} missing", f.name);
                        }
                    }
                    // Normalised answers validate to themselves.
                    prop_assert_eq!(form::validate(&form, &answers, &uploaded, today), Ok(answers.clone()));
                }
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for e in &errors {
                    prop_assert!(names.contains(e.field.as_str()), "error for unknown field {}", e.field);
                    prop_assert!(!e.message.trim().is_empty());
                }
                if form.check().is_ok() {
                    let distinct: BTreeSet<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                    prop_assert_eq!(distinct.len(), errors.len(), "a field reported twice");
                    for f in form.fields().filter(|f| f.kind == FieldKind::File && f.required) {
                        prop_assert_eq!(
                            uploaded.contains(&f.name),
                            !errors.iter().any(|e| e.field == f.name),
                            "file field {}", f.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn form_definition_check_never_panics(form in form_definition()) {
        let _ = form.check();
        let _ = form.with_applicant().check();
    }

    #[test]
    fn single_value_parsers_never_panic(s in nasty_string()) {
        if let Some(d) = form::parse_date(&s) {
            prop_assert!(d.year() >= 1000);
        }
        if let Some(e) = form::parse_email(&s) {
            prop_assert_eq!(form::parse_email(&e), Some(e.clone()));
            prop_assert!(e.len() <= 254 && e.contains('@'));
        }
        if let Some(p) = form::parse_vn_mobile(&s) {
            prop_assert_eq!(form::parse_vn_mobile(&p), Some(p.clone()));
        }
        if let Ok(id) = form::parse_citizen_id(&s) {
            prop_assert_eq!(form::parse_citizen_id(&id), Ok(id.clone()));
        }
    }

    #[test]
    fn safe_file_names_are_safe(name in nasty_string(), k in 0usize..3) {
        let kind = [FileKind::Pdf, FileKind::Jpeg, FileKind::Png][k];
        let safe = form::safe_file_name(&name, kind);
        prop_assert!(!safe.contains(['/', '\\', '"', '<', '>', ':', ';', '*', '?', '|']), "{:?}", safe);
        prop_assert!(!safe.chars().any(char::is_control), "{:?}", safe);
        prop_assert!(!safe.starts_with('.'), "{:?}", safe);
        let ext = format!(".{}", kind.extension());
        prop_assert!(safe.ends_with(&ext), "{:?}", safe);
        prop_assert!(safe.chars().count() <= 104);
    }
}

// ---------------------------------------------------------------------------------------------
// (c) Dossier codes
// ---------------------------------------------------------------------------------------------

fn agency_code() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{3}\\.[0-9]{2}\\.[0-9]{2}\\.[A-Z][0-9]{2}",
        "[A-Z][0-9]{2}(\\.[0-9]{2}){0,3}",
        "[A-Z0-9]{1,8}(\\.[A-Z0-9]{1,8}){0,3}",
    ]
}

/// Strings close to a code: right shape with one thing wrong, so the parser's later checks run.
fn near_code() -> impl Strategy<Value = String> {
    (
        prop_oneof![agency_code(), any::<String>(), "[a-z0-9.-]{0,40}"],
        prop_oneof!["[0-9]{6}", "[0-9]{0,8}", any::<String>()],
        prop_oneof!["[0-9]{4}", "[0-9]{0,6}", "[-+ ]?[0-9]{3}", any::<String>()],
        prop_oneof![
            Just(""),
            Just(" "),
            Just("\t"),
            Just("\u{3000}"),
            Just("\n")
        ],
    )
        .prop_map(|(a, d, s, pad)| format!("{pad}{a}-{d}-{s}{pad}"))
}

proptest! {
    #![proptest_config(cases(5000))]

    #[test]
    fn dossier_code_parser_is_total_and_canonical(s in prop_oneof![any::<String>(), near_code()]) {
        if let Ok(code) = DossierCode::parse(&s) {
            let text = code.to_string();
            let again = DossierCode::parse(&text);
            prop_assert_eq!(again.as_ref(), Ok(&code));
            prop_assert!(text.is_ascii() && !text.contains(char::is_whitespace), "{}", text);
            prop_assert!((1..=9999).contains(&code.seq()));
            prop_assert!((2000..=2099).contains(&code.date().year()));
            prop_assert!(text.len() <= 35 + 12);
            let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
            prop_assert_eq!(text, compact.to_ascii_uppercase());
            let json = serde_json::to_string(&code).expect("json");
            let back: DossierCode = serde_json::from_str(&json).expect("from json");
            prop_assert_eq!(back, code);
        }
    }

    #[test]
    fn every_valid_code_parses_back(
        a in agency_code(),
        (y, m, d) in (2000i16..2100, 1i8..=12, 1i8..=31),
        seq in 1u16..=9999,
        lower in any::<bool>(),
    ) {
        prop_assume!(a.len() <= 35);
        let Ok(date) = Date::new(y, m, d) else { return Ok(()); };
        let code = DossierCode::new(AgencyCode::parse(&a).expect("agency"), date, seq).expect("code");
        let mut text = format!("  {code}\t");
        if lower {
            text = text.to_lowercase();
        }
        prop_assert_eq!(DossierCode::parse(&text), Ok(code));
    }
}

// ---------------------------------------------------------------------------------------------
// (d) Text folding and input cleaning
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(5000))]

    #[test]
    fn fold_gives_searchable_words(s in nasty_string()) {
        let f = fold(&s);
        prop_assert_eq!(fold(&f), f.clone(), "fold is not idempotent");
        prop_assert!(!f.starts_with(' ') && !f.ends_with(' ') && !f.contains("  "), "{:?}", f);
        for c in f.chars() {
            prop_assert!(c == ' ' || c.is_alphanumeric(), "{:?} in {:?}", c, f);
            prop_assert!(!is_combining_mark(c), "combining mark in {:?}", f);
            prop_assert!(c.to_lowercase().eq(std::iter::once(c)), "{:?} is not lower-case", c);
        }
        prop_assert!(matches_all_words(&f, &f));
        if let Some(first) = f.split(' ').next() {
            prop_assert!(matches_all_words(&f, first));
        }
    }

    #[test]
    fn fold_ignores_case_and_diacritics_of_vietnamese(
        s in "[a-zA-ZàáảãạăắằẳẵặâấầẩẫậđèéẻẽẹêếềểễệìíỉĩịòóỏõọôốồổỗộơớờởỡợùúủũụưứừửữựỳýỷỹỵĐ 0-9,.!?()-]{0,60}"
    ) {
        let f = fold(&s);
        prop_assert!(f.is_ascii(), "{:?}", f);
        prop_assert_eq!(fold(&s.to_uppercase()), f.clone());
        prop_assert_eq!(fold(&s.nfd().collect::<String>()), f.clone());
        prop_assert_eq!(fold(&s.nfc().collect::<String>()), f);
    }

    #[test]
    fn clean_input_removes_what_must_never_reach_a_page(s in nasty_string()) {
        let c = clean_input(&s);
        prop_assert!(c.chars().all(|ch| !ch.is_control() || ch == '\n' || ch == '\t'), "{:?}", c);
        prop_assert_eq!(c.trim(), c.as_str());
        prop_assert!(c.nfc().eq(c.chars()), "not NFC: {:?}", c);
        prop_assert_eq!(clean_input(&c), c);
    }

    #[test]
    fn masked_names_hide_all_but_initials(s in nasty_string()) {
        let m = mask_name(&s);
        let words: Vec<&str> = s.split_whitespace().collect();
        let masked: Vec<&str> = m.split(' ').filter(|w| !w.is_empty()).collect();
        prop_assert_eq!(words.len(), masked.len());
        for (w, mw) in words.iter().zip(&masked) {
            prop_assert_eq!(w.chars().count(), mw.chars().count());
            prop_assert_eq!(w.chars().next(), mw.chars().next());
            prop_assert!(mw.chars().skip(1).all(|c| c == '*'));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Upload inspection (the content checks behind the multipart handler)
// ---------------------------------------------------------------------------------------------

const MAGICS: &[&[u8]] = &[
    b"%PDF-1.7\n",
    &[0xFF, 0xD8, 0xFF],
    &[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10],
    &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A],
    &[
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R',
    ],
    b"GIF89a",
    b"PK\x03\x04",
    b"<svg ",
];

fn png(width: u32, height: u32, idat: &[u8], extra: &[u8]) -> Vec<u8> {
    let mut v = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut chunk = |kind: &[u8], data: &[u8]| {
        v.extend_from_slice(&(data.len() as u32).to_be_bytes());
        v.extend_from_slice(kind);
        v.extend_from_slice(data);
        v.extend_from_slice(&[0, 0, 0, 0]);
    };
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", idat);
    chunk(b"IEND", &[]);
    v.extend_from_slice(extra);
    v
}

proptest! {
    #![proptest_config(cases(3000))]

    #[test]
    fn inspect_is_total_and_agrees_with_sniff(
        magic in prop::sample::select(MAGICS),
        body in prop::collection::vec(any::<u8>(), 0..3000),
        plain in any::<bool>(),
    ) {
        let bytes = if plain { body.clone() } else { [magic, &body[..]].concat() };
        match upload::inspect(&bytes) {
            Ok(kind) => prop_assert_eq!(FileKind::sniff(&bytes), Some(kind)),
            Err(Refusal::NotAccepted) => prop_assert_eq!(FileKind::sniff(&bytes), None),
            Err(r) => {
                prop_assert!(FileKind::sniff(&bytes).is_some());
                prop_assert!(!r.message("Tệp đã chọn").is_empty());
            }
        }
    }

    #[test]
    fn pngs_are_judged_by_their_pixels_and_their_tail(
        width in prop_oneof![1u32..5000, 1u32..=i32::MAX as u32],
        height in prop_oneof![1u32..5000, 1u32..=i32::MAX as u32],
        idat in prop::collection::vec(any::<u8>(), 1..500),
        script in any::<bool>(),
    ) {
        let tail: &[u8] = if script { b"<script>alert(1)</script>" } else { b"" };
        let r = upload::inspect(&png(width, height, &idat, tail));
        if script {
            prop_assert_eq!(r, Err(Refusal::ActiveContent(FileKind::Png)));
        } else if u64::from(width) * u64::from(height) > MAX_PIXELS {
            prop_assert_eq!(r, Err(Refusal::TooManyPixels { kind: FileKind::Png, width, height }));
        } else {
            prop_assert_eq!(r, Ok(FileKind::Png));
        }
    }

    #[test]
    fn any_accepted_file_cut_short_is_refused(
        body in prop::collection::vec(any::<u8>(), 0..2000),
        cut in 0usize..2000,
    ) {
        let mut pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n".to_vec();
        pdf.extend_from_slice(&body);
        pdf.extend_from_slice(b"\n%%EOF\n");
        let png = png(640, 480, &body, b"");
        for file in [pdf, png] {
            if upload::inspect(&file).is_ok() {
                let cut = cut.min(file.len().saturating_sub(8));
                prop_assert!(upload::inspect(&file[..cut]).is_err(), "a truncated file passed");
            }
        }
    }
}
