//! Online declaration forms as data, and their server-side validation.
//!
//! A form is a list of sections of fields. Every rule is checked on the server; the browser's own
//! checks are only a convenience. Messages are Vietnamese and say how to fix the answer
//! (GOV.UK style: "Nhập …", "… phải …").

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Field types of the form engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Textarea,
    Number,
    Date,
    Email,
    Phone,
    CitizenId,
    Select,
    Radio,
    Checkbox,
    File,
}

impl FieldKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Textarea => "textarea",
            FieldKind::Number => "number",
            FieldKind::Date => "date",
            FieldKind::Email => "email",
            FieldKind::Phone => "phone",
            FieldKind::CitizenId => "citizen_id",
            FieldKind::Select => "select",
            FieldKind::Radio => "radio",
            FieldKind::Checkbox => "checkbox",
            FieldKind::File => "file",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldOption {
    pub value: String,
    pub label: String,
    /// Choosing this option is refused with this message, which says where the case belongs
    /// instead (e.g. a foreign-element case steered to its own procedure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refuse: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Machine name: lower-case ASCII letters, digits and `_`.
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub help: Option<String>,
    /// Choices for `select`, `radio` and `checkbox` (a checkbox without options is a single box).
    #[serde(default)]
    pub options: Vec<FieldOption>,
    #[serde(default)]
    pub min_length: Option<u32>,
    #[serde(default)]
    pub max_length: Option<u32>,
    /// A regular expression the whole answer must match (text fields).
    #[serde(default)]
    pub pattern: Option<String>,
    /// The message shown when `pattern` does not match.
    #[serde(default)]
    pub pattern_message: Option<String>,
    /// Bounds for `number`.
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    /// For `date`: the date may not be after today.
    #[serde(default)]
    pub not_future: bool,
    /// For `file`: the required document (by id) this upload provides.
    #[serde(default)]
    pub document: Option<String>,
    /// For `file`: maximum size in MB (default [`DEFAULT_MAX_FILE_MB`]).
    #[serde(default)]
    pub max_size_mb: Option<u32>,
    /// Shown (and validated) only when another answer has a value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_if: Option<Condition>,
    /// Required only when another field has a given answer (e.g. the postal address when the
    /// result is delivered by post); otherwise the answer is not kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_when: Option<Condition>,
}

impl Field {
    /// A required text field with no other rule, to fill in with `..Field::blank()`.
    pub fn blank() -> Field {
        Field {
            name: String::new(),
            label: String::new(),
            kind: FieldKind::Text,
            required: true,
            help: None,
            options: vec![],
            min_length: None,
            max_length: None,
            pattern: None,
            pattern_message: None,
            min: None,
            max: None,
            not_future: false,
            document: None,
            max_size_mb: None,
            show_if: None,
            required_when: None,
        }
    }
}

/// "Shown only when …": the answer of an earlier field (`field`) has one of the `equals` values,
/// or, when `equals` is empty, any value. A field inside a repeated section that names a sibling
/// looks at the sibling of the same item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub field: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub equals: Vec<String>,
}

/// A section filled in 1–N times (several children, several witnesses). Each item's answers are
/// keyed `field.N` (N from 1); the number of items is the answer `name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repeat {
    /// Machine name of the group (the key of its item count), like a field name.
    pub name: String,
    /// What one item is called, e.g. "Người làm chứng" ("Người làm chứng thứ 2").
    pub item_label: String,
    #[serde(default = "one")]
    pub min: u32,
    pub max: u32,
}

fn one() -> u32 {
    1
}

/// The most items a repeated section may allow.
pub const MAX_REPEAT: u32 = 20;

pub const DEFAULT_MAX_FILE_MB: u32 = 10;
/// Default maximum length of a text answer when the field sets none.
pub const DEFAULT_MAX_TEXT: u32 = 500;
pub const DEFAULT_MAX_TEXTAREA: u32 = 5000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The whole section is shown only when another answer has a value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_if: Option<Condition>,
    /// The section is a group filled in `min`–`max` times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<Repeat>,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormDefinition {
    /// The paper form this declaration replaces, e.g. "Tờ khai đăng ký khai sinh (TT 04/2020/TT-BTP)".
    #[serde(default)]
    pub title: Option<String>,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormDefinitionError {
    #[error("tên trường '{0}' không hợp lệ (chỉ dùng a–z, 0–9 và _)")]
    BadName(String),
    #[error("tên trường '{0}' bị trùng")]
    Duplicate(String),
    #[error("trường '{0}' cần có danh sách lựa chọn")]
    MissingOptions(String),
    #[error("trường '{0}': biểu thức kiểm tra không hợp lệ")]
    BadPattern(String),
    #[error(
        "điều kiện hiển thị của '{0}' phải dựa vào một trường đứng trước nó (không phải trường tải tệp, không ở nhóm lặp lại khác): '{1}'"
    )]
    BadCondition(String, String),
    #[error("nhóm lặp lại '{0}': số lần tối thiểu phải từ 0 đến tối đa, tối đa từ 1 đến {max}", max = MAX_REPEAT)]
    BadRepeat(String),
    #[error("nhóm lặp lại '{0}' không được chứa trường tải tệp '{1}'")]
    FileInRepeat(String, String),
}

impl FormDefinition {
    pub fn fields(&self) -> impl Iterator<Item = &Field> {
        self.sections.iter().flat_map(|s| s.fields.iter())
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields().find(|f| f.name == name)
    }

    /// The section holding the field with this name.
    fn section_of(&self, name: &str) -> Option<usize> {
        self.sections
            .iter()
            .position(|s| s.fields.iter().any(|f| f.name == name))
    }

    /// The repeated group with this name.
    pub fn group(&self, name: &str) -> Option<&Repeat> {
        self.sections
            .iter()
            .filter_map(|s| s.repeat.as_ref())
            .find(|r| r.name == name)
    }

    /// What an answer key names: a field (`name`, or `name.N` inside a repeated section, N from 1
    /// to its maximum) or the item count of a group.
    pub fn key(&self, key: &str) -> Option<Key<'_>> {
        if let Some((name, n)) = key.split_once('.') {
            if n.is_empty() || n.starts_with('0') || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: u32 = n.parse().ok()?;
            let s = &self.sections[self.section_of(name)?];
            let r = s.repeat.as_ref()?;
            let f = s.fields.iter().find(|f| f.name == name)?;
            return (n >= 1 && n <= r.max).then_some(Key::Field(f));
        }
        if let Some(g) = self.group(key) {
            return Some(Key::Count(g));
        }
        let s = &self.sections[self.section_of(key)?];
        if s.repeat.is_some() {
            return None;
        }
        self.field(key).map(Key::Field)
    }

    pub fn check(&self) -> Result<(), FormDefinitionError> {
        let mut seen = BTreeSet::new();
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        // Names already met, with their section: conditions may only look back.
        let mut earlier: BTreeMap<&str, (usize, FieldKind)> = BTreeMap::new();
        for (si, s) in self.sections.iter().enumerate() {
            if let Some(r) = &s.repeat {
                if !name_ok(&r.name) {
                    return Err(FormDefinitionError::BadName(r.name.clone()));
                }
                if !seen.insert(r.name.as_str()) {
                    return Err(FormDefinitionError::Duplicate(r.name.clone()));
                }
                if r.max == 0 || r.max > MAX_REPEAT || r.min > r.max {
                    return Err(FormDefinitionError::BadRepeat(r.name.clone()));
                }
                if let Some(f) = s.fields.iter().find(|f| f.kind == FieldKind::File) {
                    return Err(FormDefinitionError::FileInRepeat(
                        r.name.clone(),
                        f.name.clone(),
                    ));
                }
            }
            let check_cond =
                |owner: &str, c: &Condition, earlier: &BTreeMap<&str, (usize, FieldKind)>| {
                    let ok = match earlier.get(c.field.as_str()) {
                        Some((at, kind)) => {
                            *kind != FieldKind::File
                                && (*at == si || self.sections[*at].repeat.is_none())
                        }
                        None => false,
                    };
                    if ok {
                        Ok(())
                    } else {
                        Err(FormDefinitionError::BadCondition(
                            owner.to_string(),
                            c.field.clone(),
                        ))
                    }
                };
            if let Some(c) = &s.show_if {
                // A section's condition looks at an earlier section, never at itself.
                let owner = s
                    .repeat
                    .as_ref()
                    .map(|r| r.name.as_str())
                    .unwrap_or(s.title.as_str());
                check_cond(owner, c, &earlier)?;
                if earlier
                    .get(c.field.as_str())
                    .is_some_and(|(at, _)| *at == si)
                {
                    return Err(FormDefinitionError::BadCondition(
                        owner.to_string(),
                        c.field.clone(),
                    ));
                }
            }
            for f in &s.fields {
                if !name_ok(&f.name) {
                    return Err(FormDefinitionError::BadName(f.name.clone()));
                }
                if !seen.insert(f.name.as_str()) {
                    return Err(FormDefinitionError::Duplicate(f.name.clone()));
                }
                if let Some(c) = &f.show_if {
                    check_cond(&f.name, c, &earlier)?;
                }
                if let Some(c) = &f.required_when {
                    check_cond(&f.name, c, &earlier)?;
                }
                earlier.insert(f.name.as_str(), (si, f.kind));
                if matches!(f.kind, FieldKind::Select | FieldKind::Radio) && f.options.is_empty() {
                    return Err(FormDefinitionError::MissingOptions(f.name.clone()));
                }
                if let Some(p) = &f.pattern
                    && regex::Regex::new(&format!("^(?:{p})$")).is_err()
                {
                    return Err(FormDefinitionError::BadPattern(f.name.clone()));
                }
            }
        }
        Ok(())
    }

    /// The whole declaration: the applicant block first, then the procedure's own sections,
    /// then how the result is received.
    pub fn with_applicant(&self) -> FormDefinition {
        let mut sections = vec![applicant_section()];
        sections.extend(self.sections.iter().cloned());
        sections.push(crate::outcome::delivery_section());
        FormDefinition {
            title: self.title.clone(),
            sections,
        }
    }

    /// The declaration as an official fills it in at the desk on the applicant's behalf: the same
    /// fields and rules, except that the applicant's e-mail address and phone number are optional
    /// (not every applicant has them; without an e-mail address nothing is sent).
    pub fn at_desk(mut self) -> FormDefinition {
        for f in self.sections.iter_mut().flat_map(|s| s.fields.iter_mut()) {
            match f.name.as_str() {
                applicant::EMAIL => {
                    f.required = false;
                    f.help = Some(
                        "Nếu người nộp có thư điện tử, mã hồ sơ, đường dẫn theo dõi hồ sơ và các thông báo được gửi tới địa chỉ này."
                            .into(),
                    );
                }
                applicant::PHONE => f.required = false,
                _ => {}
            }
        }
        self
    }

    /// Names of the file fields.
    pub fn file_fields(&self) -> impl Iterator<Item = &Field> {
        self.fields().filter(|f| f.kind == FieldKind::File)
    }
}

/// Field names of the applicant block, shared by every procedure.
pub mod applicant {
    pub const FULL_NAME: &str = "applicant_full_name";
    pub const BIRTH_DATE: &str = "applicant_birth_date";
    pub const ID_NUMBER: &str = "applicant_id_number";
    pub const PHONE: &str = "applicant_phone";
    pub const EMAIL: &str = "applicant_email";
    pub const ADDRESS: &str = "applicant_address";
}

fn field(name: &str, label: &str, kind: FieldKind, help: Option<&str>) -> Field {
    Field {
        name: name.into(),
        label: label.into(),
        kind,
        help: help.map(Into::into),
        ..Field::blank()
    }
}

/// The applicant block (thông tin người nộp hồ sơ).
pub fn applicant_section() -> Section {
    let mut name = field(
        applicant::FULL_NAME,
        "Họ, chữ đệm và tên",
        FieldKind::Text,
        Some("Viết đầy đủ, có dấu, như trên Căn cước."),
    );
    name.min_length = Some(2);
    name.max_length = Some(100);
    let mut birth = field(
        applicant::BIRTH_DATE,
        "Ngày, tháng, năm sinh",
        FieldKind::Date,
        Some("Ví dụ: 27/03/1990"),
    );
    birth.not_future = true;
    let id = field(
        applicant::ID_NUMBER,
        "Số định danh cá nhân (số Căn cước, Căn cước công dân)",
        FieldKind::CitizenId,
        Some("Gồm 12 chữ số, in trên thẻ Căn cước hoặc Căn cước công dân."),
    );
    let phone = field(
        applicant::PHONE,
        "Số điện thoại di động",
        FieldKind::Phone,
        Some("Ví dụ: 0912 345 678"),
    );
    let email = field(
        applicant::EMAIL,
        "Thư điện tử (email)",
        FieldKind::Email,
        Some("Mã hồ sơ và đường dẫn theo dõi hồ sơ sẽ được gửi tới địa chỉ này."),
    );
    let mut address = field(
        applicant::ADDRESS,
        "Nơi cư trú",
        FieldKind::Textarea,
        Some("Số nhà, đường/thôn, xã/phường, tỉnh/thành phố."),
    );
    address.max_length = Some(300);
    Section {
        title: "Thông tin người nộp hồ sơ".into(),
        description: None,
        show_if: None,
        repeat: None,
        fields: vec![name, birth, id, phone, email, address],
    }
}

/// Raw answers as they come from a form: field name → values (several for a checkbox group).
pub type RawAnswers = BTreeMap<String, Vec<String>>;

/// Validated, normalised answers (no file fields; files are stored separately).
pub type Answers = BTreeMap<String, Vec<String>>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// What an answer key names ([`FormDefinition::key`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Key<'a> {
    Field(&'a Field),
    /// The number of items of a repeated group.
    Count(&'a Repeat),
}

/// The answer key of a field: `name` at the top level, `name.N` in item N of a repeated section.
pub fn item_key(name: &str, item: Option<u32>) -> String {
    match item {
        Some(n) => format!("{name}.{n}"),
        None => name.to_string(),
    }
}

/// One field of the declaration as it stands for some answers: its key, whether it is shown,
/// and the key of the answer its condition looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot<'a> {
    pub field: &'a Field,
    pub key: String,
    pub shown: bool,
    /// The key of the answer that decides whether it is shown (its own condition).
    pub trigger: Option<String>,
    /// Shown and, for a field with `required_when`, asked in this case (then required);
    /// an answer to a field not asked is not kept.
    pub asked: bool,
}

/// One item of a section (a section that does not repeat has exactly one).
#[derive(Debug, Clone, PartialEq)]
pub struct Item<'a> {
    /// 1-based number within a repeated section; `None` otherwise.
    pub number: Option<u32>,
    pub slots: Vec<Slot<'a>>,
}

/// A section of the declaration as it stands for some answers.
#[derive(Debug, Clone, PartialEq)]
pub struct SectionView<'a> {
    pub section: &'a Section,
    pub shown: bool,
    /// The key of the answer that decides whether the section is shown.
    pub trigger: Option<String>,
    pub items: Vec<Item<'a>>,
}

impl SectionView<'_> {
    /// Another item may be added.
    pub fn can_add(&self) -> bool {
        self.section
            .repeat
            .as_ref()
            .is_some_and(|r| (self.items.len() as u32) < r.max)
    }
    /// An item may be removed.
    pub fn can_remove(&self) -> bool {
        self.section
            .repeat
            .as_ref()
            .is_some_and(|r| (self.items.len() as u32) > r.min)
    }
}

/// The cleaned, non-empty values of an answer.
fn cleaned(raw: &RawAnswers, key: &str) -> Vec<String> {
    raw.get(key)
        .map(|vs| {
            vs.iter()
                .map(|v| crate::text::clean_input(v))
                .filter(|v| !v.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// How many items a repeated group has for these answers: the posted count, within min–max
/// (the minimum when there is none).
pub fn item_count(r: &Repeat, raw: &RawAnswers) -> u32 {
    raw.get(&r.name)
        .and_then(|v| v.first())
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(r.min)
        .clamp(r.min, r.max)
}

impl FormDefinition {
    /// The declaration laid out for these answers: every section with its items, and for each
    /// field whether it is shown. A condition is met when the answer it looks at is itself shown
    /// and has one of the values (or any value); so hiding a field hides what depends on it.
    pub fn layout(&self, raw: &RawAnswers) -> Vec<SectionView<'_>> {
        // Values of the shown answers so far (conditions only look back).
        let mut shown_values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let met = |c: &Condition, key: &str, shown_values: &BTreeMap<String, Vec<String>>| {
            shown_values.get(key).is_some_and(|vals| {
                !vals.is_empty()
                    && (c.equals.is_empty() || vals.iter().any(|v| c.equals.contains(v)))
            })
        };
        let mut out = Vec::with_capacity(self.sections.len());
        for s in &self.sections {
            let trigger = s.show_if.as_ref().map(|c| c.field.clone());
            let shown = s
                .show_if
                .as_ref()
                .is_none_or(|c| met(c, &c.field, &shown_values));
            let numbers: Vec<Option<u32>> = match &s.repeat {
                Some(r) => (1..=item_count(r, raw)).map(Some).collect(),
                None => vec![None],
            };
            let mut items = Vec::with_capacity(numbers.len());
            for number in numbers {
                let mut slots = Vec::with_capacity(s.fields.len());
                for f in &s.fields {
                    let key = item_key(&f.name, number);
                    let (trigger, f_shown) = match &f.show_if {
                        None => (None, shown),
                        Some(c) => {
                            let sibling = s.fields.iter().any(|g| g.name == c.field);
                            let tkey = item_key(&c.field, if sibling { number } else { None });
                            let ok = shown && met(c, &tkey, &shown_values);
                            (Some(tkey), ok)
                        }
                    };
                    let asked = f_shown
                        && f.required_when.as_ref().is_none_or(|c| {
                            let sibling = s.fields.iter().any(|g| g.name == c.field);
                            let tkey = item_key(&c.field, if sibling { number } else { None });
                            met(c, &tkey, &shown_values)
                        });
                    if f_shown {
                        shown_values.insert(key.clone(), cleaned(raw, &key));
                    }
                    slots.push(Slot {
                        field: f,
                        key,
                        shown: f_shown,
                        trigger,
                        asked,
                    });
                }
                items.push(Item { number, slots });
            }
            out.push(SectionView {
                section: s,
                shown,
                trigger,
                items,
            });
        }
        out
    }

    /// The keys of the fields shown for these answers (file fields included).
    pub fn shown_keys(&self, raw: &RawAnswers) -> BTreeSet<String> {
        self.layout(raw)
            .into_iter()
            .flat_map(|s| s.items.into_iter().flat_map(|i| i.slots))
            .filter(|s| s.shown)
            .map(|s| s.key)
            .collect()
    }
}

/// Adds an item to repeated group `group` ("Thêm"); false when it has its maximum already.
pub fn add_item(form: &FormDefinition, raw: &mut RawAnswers, group: &str) -> bool {
    let Some(r) = form.group(group) else {
        return false;
    };
    let n = item_count(r, raw);
    if n >= r.max {
        return false;
    }
    raw.insert(r.name.clone(), vec![(n + 1).to_string()]);
    true
}

/// Removes item `number` of repeated group `group` ("Xóa"): the later items move up one place.
/// False when the group has only its minimum of items or there is no such item.
pub fn remove_item(form: &FormDefinition, raw: &mut RawAnswers, group: &str, number: u32) -> bool {
    let Some(s) = form
        .sections
        .iter()
        .find(|s| s.repeat.as_ref().is_some_and(|r| r.name == group))
    else {
        return false;
    };
    let Some(r) = &s.repeat else { return false };
    let n = item_count(r, raw);
    if n <= r.min || number == 0 || number > n {
        return false;
    }
    for f in &s.fields {
        for i in number..n {
            match raw.remove(&item_key(&f.name, Some(i + 1))) {
                Some(v) => {
                    raw.insert(item_key(&f.name, Some(i)), v);
                }
                None => {
                    raw.remove(&item_key(&f.name, Some(i)));
                }
            }
        }
        raw.remove(&item_key(&f.name, Some(n)));
    }
    raw.insert(r.name.clone(), vec![(n - 1).to_string()]);
    true
}

/// Validates the fields of `form` shown for `raw` ([`FormDefinition::layout`]); a hidden field
/// is never required and its answer is dropped. `uploaded` names the file fields that already
/// have a stored file. Returns the normalised answers (with the item count of each shown
/// repeated group), or every error found (not only the first), keyed like the answers.
pub fn validate(
    form: &FormDefinition,
    raw: &RawAnswers,
    uploaded: &BTreeSet<String>,
    today: Date,
) -> Result<Answers, Vec<FieldError>> {
    let mut answers = Answers::new();
    let mut errors = Vec::new();
    for view in form.layout(raw) {
        if !view.shown {
            continue;
        }
        if let Some(r) = &view.section.repeat {
            answers.insert(r.name.clone(), vec![view.items.len().to_string()]);
        }
        for item in &view.items {
            let prefix = match (&view.section.repeat, item.number) {
                (Some(r), Some(n)) => format!("{} thứ {n}: ", r.item_label),
                _ => String::new(),
            };
            for slot in item.slots.iter().filter(|s| s.shown) {
                let f = slot.field;
                if f.kind == FieldKind::File {
                    let required = f.required || f.required_when.is_some();
                    if slot.asked && required && !uploaded.contains(&slot.key) {
                        errors.push(FieldError {
                            field: slot.key.clone(),
                            message: format!("Chọn tệp cho mục “{}” (PDF, JPG hoặc PNG).", f.label),
                        });
                    }
                    continue;
                }
                let values = cleaned(raw, &slot.key);
                if !slot.asked {
                    // Not asked in this case: nothing is kept.
                    continue;
                }
                let conditional;
                let f = if f.required_when.is_some() {
                    conditional = Field {
                        required: true,
                        ..f.clone()
                    };
                    &conditional
                } else {
                    f
                };
                match validate_field(f, &values, today) {
                    Ok(Some(v)) => {
                        answers.insert(slot.key.clone(), v);
                    }
                    Ok(None) => {}
                    Err(message) => errors.push(FieldError {
                        field: slot.key.clone(),
                        message: format!("{prefix}{message}"),
                    }),
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(answers)
    } else {
        Err(errors)
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn validate_field(
    f: &Field,
    values: &[String],
    today: Date,
) -> Result<Option<Vec<String>>, String> {
    if values.is_empty() {
        if f.required {
            return Err(match f.kind {
                FieldKind::Select | FieldKind::Radio => format!("Chọn {}.", lower_first(&f.label)),
                FieldKind::Checkbox if f.options.is_empty() => {
                    format!("Đánh dấu vào ô “{}” để tiếp tục.", f.label)
                }
                FieldKind::Checkbox => format!("Chọn ít nhất một mục cho “{}”.", f.label),
                _ => format!("Nhập {}.", lower_first(&f.label)),
            });
        }
        return Ok(None);
    }
    if f.kind == FieldKind::Checkbox {
        if f.options.is_empty() {
            return Ok(Some(vec!["co".into()]));
        }
        let mut out = Vec::new();
        for v in values {
            let Some(o) = f.options.iter().find(|o| &o.value == v) else {
                return Err(format!(
                    "Lựa chọn cho “{}” không hợp lệ. Chọn lại trong danh sách.",
                    f.label
                ));
            };
            if let Some(message) = &o.refuse {
                return Err(message.clone());
            }
            if !out.contains(v) {
                out.push(v.clone());
            }
        }
        return Ok(Some(out));
    }
    if values.len() > 1 {
        return Err(format!("“{}” chỉ nhận một giá trị.", f.label));
    }
    let v = &values[0];
    let value = match f.kind {
        FieldKind::Text | FieldKind::Textarea => {
            let max = f.max_length.unwrap_or(if f.kind == FieldKind::Text { DEFAULT_MAX_TEXT } else { DEFAULT_MAX_TEXTAREA });
            let len = v.chars().count() as u32;
            if len > max {
                return Err(format!("“{}” dài tối đa {max} ký tự (hiện có {len} ký tự).", f.label));
            }
            if let Some(min) = f.min_length
                && len < min
            {
                return Err(format!("“{}” phải có ít nhất {min} ký tự.", f.label));
            }
            if f.kind == FieldKind::Text && v.contains('\n') {
                return Err(format!("“{}” chỉ viết trên một dòng.", f.label));
            }
            if let Some(p) = &f.pattern {
                let ok = regex::Regex::new(&format!("^(?:{p})$")).map(|re| re.is_match(v)).unwrap_or(false);
                if !ok {
                    return Err(f.pattern_message.clone().unwrap_or_else(|| format!("“{}” không đúng định dạng.", f.label)));
                }
            }
            v.clone()
        }
        FieldKind::Number => {
            let n: f64 = v.replace(' ', "").replace(',', ".").parse().map_err(|_| format!("“{}” phải là một số, ví dụ 2.", f.label))?;
            if !n.is_finite() {
                return Err(format!("“{}” phải là một số, ví dụ 2.", f.label));
            }
            if let Some(min) = f.min
                && n < min
            {
                return Err(format!("“{}” phải từ {min} trở lên.", f.label));
            }
            if let Some(max) = f.max
                && n > max
            {
                return Err(format!("“{}” phải không lớn hơn {max}.", f.label));
            }
            if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { n.to_string() }
        }
        FieldKind::Date => {
            let d = parse_date(v).ok_or_else(|| format!("“{}” phải là ngày có thật, dạng ngày/tháng/năm, ví dụ 27/03/1990.", f.label))?;
            if f.not_future && d > today {
                return Err(format!("“{}” không được sau ngày hôm nay.", f.label));
            }
            if d.year() < 1900 {
                return Err(format!("“{}” phải từ năm 1900 trở đi.", f.label));
            }
            d.to_string()
        }
        FieldKind::Email => parse_email(v).ok_or_else(|| format!("Nhập địa chỉ thư điện tử đúng dạng, ví dụ ten@example.com, cho “{}”.", f.label))?,
        FieldKind::Phone => parse_vn_mobile(v).ok_or_else(|| {
            format!("“{}” phải là số di động Việt Nam gồm 10 chữ số, bắt đầu bằng 03, 05, 07, 08 hoặc 09, ví dụ 0912345678.", f.label)
        })?,
        FieldKind::CitizenId => parse_citizen_id(v).map_err(|e| format!("“{}” {e}", f.label))?,
        FieldKind::Select | FieldKind::Radio => {
            let Some(o) = f.options.iter().find(|o| &o.value == v) else {
                return Err(format!("Lựa chọn cho “{}” không hợp lệ. Chọn lại trong danh sách.", f.label));
            };
            if let Some(message) = &o.refuse {
                return Err(message.clone());
            }
            v.clone()
        }
        FieldKind::Checkbox | FieldKind::File => unreachable_kind(),
    };
    Ok(Some(vec![value]))
}

#[allow(clippy::panic)]
fn unreachable_kind() -> String {
    // Checkbox and file fields are handled before this match; keep a harmless value rather than panic.
    String::new()
}

/// Parses `YYYY-MM-DD` (HTML date input) or `DD/MM/YYYY` (typed by hand).
pub fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim();
    if let Some((d, rest)) = s.split_once('/') {
        let (m, y) = rest.split_once('/')?;
        let (d, m, y): (i8, i8, i16) = (
            d.trim().parse().ok()?,
            m.trim().parse().ok()?,
            y.trim().parse().ok()?,
        );
        if y < 1000 {
            return None;
        }
        return Date::new(y, m, d).ok();
    }
    let mut parts = s.split('-');
    let y: i16 = parts.next()?.parse().ok()?;
    let m: i8 = parts.next()?.parse().ok()?;
    let d: i8 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || y < 1000 {
        return None;
    }
    Date::new(y, m, d).ok()
}

/// A pragmatic e-mail check: one `@`, a non-empty local part, a dotted domain, no spaces, ≤ 254 chars.
pub fn parse_email(s: &str) -> Option<String> {
    let s = s.trim();
    if s.len() > 254
        || s.chars().any(|c| {
            c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == '"' || c == ','
        })
    {
        return None;
    }
    let (local, domain) = s.rsplit_once('@')?;
    if local.is_empty() || local.len() > 64 || local.contains('@') {
        return None;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels
            .iter()
            .any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-'))
    {
        return None;
    }
    if !domain
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return None;
    }
    Some(format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// Vietnamese mobile numbers: 10 digits starting 03, 05, 07, 08 or 09; `+84`/`84` prefixes,
/// spaces, dots and dashes accepted. Returns the number as `0XXXXXXXXX`.
pub fn parse_vn_mobile(s: &str) -> Option<String> {
    let compact: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
        .collect();
    let national = if let Some(rest) = compact.strip_prefix("+84") {
        format!("0{rest}")
    } else if compact.starts_with("84") && compact.len() == 11 {
        format!("0{}", &compact[2..])
    } else {
        compact
    };
    let ok = national.len() == 10
        && national.chars().all(|c| c.is_ascii_digit())
        && matches!(&national[..2], "03" | "05" | "07" | "08" | "09");
    ok.then_some(national)
}

/// Personal identification number (số định danh cá nhân, TT 59/2021/TT-BCA): exactly 12 digits;
/// the first three are the province of birth registration (001–096), the fourth encodes century
/// and sex.
pub fn parse_citizen_id(s: &str) -> Result<String, &'static str> {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !compact.chars().all(|c| c.is_ascii_digit()) {
        return Err("chỉ gồm chữ số, không có chữ cái hay ký hiệu.");
    }
    if compact.len() != 12 {
        return Err("phải gồm đúng 12 chữ số.");
    }
    let province: u32 = compact[..3]
        .parse()
        .map_err(|_| "phải gồm đúng 12 chữ số.")?;
    if province == 0 || province > 96 {
        return Err(
            "có 3 chữ số đầu là mã tỉnh nơi đăng ký khai sinh (từ 001 đến 096); kiểm tra lại số trên thẻ.",
        );
    }
    Ok(compact)
}

/// Upload kinds accepted for attachments, recognised by content (magic bytes), never by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    Pdf,
    Jpeg,
    Png,
}

impl FileKind {
    /// Recognises the file from its first bytes. An HTML or script file renamed `.pdf` is `None`.
    pub fn sniff(head: &[u8]) -> Option<FileKind> {
        if head.starts_with(b"%PDF-") {
            Some(FileKind::Pdf)
        } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(FileKind::Jpeg)
        } else if head.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
            Some(FileKind::Png)
        } else {
            None
        }
    }
    pub fn mime(self) -> &'static str {
        match self {
            FileKind::Pdf => "application/pdf",
            FileKind::Jpeg => "image/jpeg",
            FileKind::Png => "image/png",
        }
    }
    pub fn extension(self) -> &'static str {
        match self {
            FileKind::Pdf => "pdf",
            FileKind::Jpeg => "jpg",
            FileKind::Png => "png",
        }
    }
}

/// Makes a client-supplied file name safe to show and to use in `Content-Disposition`:
/// no path, no control characters, no bidirectional or invisible formatting characters (a
/// right-to-left override makes `exe.pdf` look like `fdp.exe`), at most 100 characters, never
/// empty.
pub fn safe_file_name(client_name: &str, kind: FileKind) -> String {
    let cleaned = shown_file_name(client_name);
    let stem = match cleaned.rsplit_once('.') {
        Some((s, _)) if !s.is_empty() => s.to_string(),
        _ => cleaned,
    };
    let stem = if stem.is_empty() {
        "tep-dinh-kem".to_string()
    } else {
        stem
    };
    format!("{stem}.{}", kind.extension())
}

/// The client's file name as it may be shown in a message or the audit log: the last path
/// component, without control, bidi or reserved characters, at most 100 characters, extension
/// kept; empty when nothing is left.
pub fn shown_file_name(client_name: &str) -> String {
    let base = client_name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(c, '"' | '<' | '>' | ':' | '*' | '?' | '|' | ';')
                && !matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
        })
        .take(100)
        .collect();
    cleaned.trim().trim_start_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn today() -> Date {
        Date::new(2026, 11, 28).expect("valid date")
    }

    fn raw(pairs: &[(&str, &str)]) -> RawAnswers {
        let mut m = RawAnswers::new();
        for (k, v) in pairs {
            m.entry((*k).to_string())
                .or_default()
                .push((*v).to_string());
        }
        m
    }

    fn applicant_form() -> FormDefinition {
        FormDefinition {
            title: None,
            sections: vec![],
        }
        .with_applicant()
    }

    #[test]
    fn valid_applicant() {
        let r = raw(&[
            (applicant::FULL_NAME, " Nguyễn Văn An "),
            (applicant::BIRTH_DATE, "27/03/1990"),
            (applicant::ID_NUMBER, "031 090 123 456"),
            (applicant::PHONE, "+84 912 345 678"),
            (applicant::EMAIL, "an@Example.VN"),
            (applicant::ADDRESS, "Số 1, phường Hồng Bàng"),
        ]);
        let a = validate(&applicant_form(), &r, &BTreeSet::new(), today()).expect("valid");
        assert_eq!(a[applicant::FULL_NAME], vec!["Nguyễn Văn An"]);
        assert_eq!(a[applicant::BIRTH_DATE], vec!["1990-03-27"]);
        assert_eq!(a[applicant::ID_NUMBER], vec!["031090123456"]);
        assert_eq!(a[applicant::PHONE], vec!["0912345678"]);
        assert_eq!(a[applicant::EMAIL], vec!["an@example.vn"]);
    }

    #[test]
    fn collects_every_error() {
        let r = raw(&[
            (applicant::ID_NUMBER, "12345"),
            (applicant::PHONE, "0212345678"),
            (applicant::BIRTH_DATE, "31/02/1990"),
        ]);
        let errs = validate(&applicant_form(), &r, &BTreeSet::new(), today()).expect_err("invalid");
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                applicant::FULL_NAME,
                applicant::BIRTH_DATE,
                applicant::ID_NUMBER,
                applicant::PHONE,
                applicant::EMAIL,
                applicant::ADDRESS
            ]
        );
        assert!(errs[0].message.starts_with("Nhập họ"));
        assert!(errs[2].message.contains("12 chữ số"));
    }

    #[test]
    fn at_the_desk_email_and_phone_are_optional_and_still_checked() {
        let desk = applicant_form().at_desk();
        let mut r = raw(&[
            (applicant::FULL_NAME, "Nguyễn Văn An"),
            (applicant::BIRTH_DATE, "27/03/1990"),
            (applicant::ID_NUMBER, "031090123456"),
            (applicant::ADDRESS, "Số 1, phường Hồng Bàng"),
        ]);
        let a = validate(&desk, &r, &BTreeSet::new(), today()).expect("valid without e-mail");
        assert!(!a.contains_key(applicant::EMAIL));
        assert!(validate(&applicant_form(), &r, &BTreeSet::new(), today()).is_err());
        r.insert(applicant::EMAIL.into(), vec!["khong-phai-thu".into()]);
        let errs = validate(&desk, &r, &BTreeSet::new(), today()).expect_err("bad e-mail");
        assert_eq!(errs[0].field, applicant::EMAIL);
    }

    #[test]
    fn future_birth_date_refused() {
        let f = applicant_section()
            .fields
            .into_iter()
            .find(|f| f.name == applicant::BIRTH_DATE)
            .expect("field");
        assert!(validate_field(&f, &["2030-01-01".into()], today()).is_err());
    }

    #[test]
    fn citizen_id_rules() {
        assert_eq!(parse_citizen_id("001203004567"), Ok("001203004567".into()));
        assert!(parse_citizen_id("000203004567").is_err());
        assert!(parse_citizen_id("097203004567").is_err());
        assert!(parse_citizen_id("00120300456").is_err());
        assert!(parse_citizen_id("00120300456a").is_err());
    }

    #[test]
    fn mobile_rules() {
        assert_eq!(
            parse_vn_mobile("0912.345.678").as_deref(),
            Some("0912345678")
        );
        assert_eq!(
            parse_vn_mobile("84912345678").as_deref(),
            Some("0912345678")
        );
        assert!(parse_vn_mobile("0212345678").is_none());
        assert!(parse_vn_mobile("091234567").is_none());
    }

    #[test]
    fn sniffs_by_content() {
        assert_eq!(FileKind::sniff(b"%PDF-1.7\n"), Some(FileKind::Pdf));
        assert_eq!(FileKind::sniff(b"<html><script>"), None);
        assert_eq!(
            FileKind::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(FileKind::Jpeg)
        );
    }

    #[test]
    fn safe_names() {
        assert_eq!(
            safe_file_name("../../etc/passwd", FileKind::Pdf),
            "passwd.pdf"
        );
        assert_eq!(
            safe_file_name("C:\\x\\giấy chứng sinh.PDF", FileKind::Pdf),
            "giấy chứng sinh.pdf"
        );
        assert_eq!(safe_file_name("\u{0}\n", FileKind::Png), "tep-dinh-kem.png");
        assert_eq!(safe_file_name("a.html", FileKind::Jpeg), "a.jpg");
    }

    #[test]
    fn select_rejects_unknown_option() {
        let mut f = field("gioi_tinh", "Giới tính", FieldKind::Select, None);
        f.options = vec![FieldOption {
            value: "nam".into(),
            label: "Nam".into(),
            refuse: None,
        }];
        assert!(validate_field(&f, &["nam".into()], today()).is_ok());
        assert!(validate_field(&f, &["khac".into()], today()).is_err());
    }

    /// Nationality with "Khác" → which one; a witnesses group (2–4) shown only for one kind of
    /// evidence, each witness with an optional ID number shown when "có giấy tờ" is ticked.
    fn conditional_form() -> FormDefinition {
        let text = r#"
[[sections]]
title = "Người được nhận"
[[sections.fields]]
name = "quoc_tich"
label = "Quốc tịch"
type = "select"
required = true
options = [{ value = "viet_nam", label = "Việt Nam" }, { value = "khac", label = "Quốc tịch khác" }]
[[sections.fields]]
name = "quoc_tich_khac"
label = "Tên quốc tịch"
type = "text"
required = true
show_if = { field = "quoc_tich", equals = ["khac"] }
[[sections.fields]]
name = "loai_chung_cu"
label = "Loại chứng cứ"
type = "radio"
required = true
options = [{ value = "giam_dinh", label = "Giám định" }, { value = "khac", label = "Khác" }]

[[sections]]
title = "Người làm chứng"
show_if = { field = "loai_chung_cu", equals = ["khac"] }
repeat = { name = "nguoi_lam_chung", item_label = "Người làm chứng", min = 2, max = 4 }
[[sections.fields]]
name = "lc_ho_ten"
label = "Họ và tên"
type = "text"
required = true
[[sections.fields]]
name = "lc_co_giay_to"
label = "Có giấy tờ tùy thân"
type = "checkbox"
[[sections.fields]]
name = "lc_so_giay_to"
label = "Số giấy tờ"
type = "text"
required = true
show_if = { field = "lc_co_giay_to" }
"#;
        let f: FormDefinition = toml::from_str(text).expect("parses");
        f.check().expect("valid");
        f
    }

    #[test]
    fn hidden_field_is_not_required_and_its_stale_answer_is_dropped() {
        let form = conditional_form();
        let r = raw(&[
            ("quoc_tich", "viet_nam"),
            ("quoc_tich_khac", "Pháp"),
            ("loai_chung_cu", "giam_dinh"),
            ("lc_ho_ten.1", "Stale"),
        ]);
        let a = validate(&form, &r, &BTreeSet::new(), today()).expect("valid");
        assert!(!a.contains_key("quoc_tich_khac"));
        assert!(!a.contains_key("lc_ho_ten.1"));
        assert!(!a.contains_key("nguoi_lam_chung"));
        // Shown: now required.
        let r = raw(&[("quoc_tich", "khac"), ("loai_chung_cu", "giam_dinh")]);
        let errs = validate(&form, &r, &BTreeSet::new(), today()).expect_err("required");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "quoc_tich_khac");
        assert_eq!(errs[0].message, "Nhập tên quốc tịch.");
    }

    #[test]
    fn repeated_group_validates_each_item_and_keeps_its_count() {
        let form = conditional_form();
        let r = raw(&[
            ("quoc_tich", "viet_nam"),
            ("loai_chung_cu", "khac"),
            ("nguoi_lam_chung", "3"),
            ("lc_ho_ten.1", "Trần Văn Bình"),
            ("lc_co_giay_to.1", "co"),
            ("lc_ho_ten.3", "Lê Thị Cúc"),
        ]);
        let errs = validate(&form, &r, &BTreeSet::new(), today()).expect_err("invalid");
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["lc_so_giay_to.1", "lc_ho_ten.2"]);
        assert_eq!(errs[1].message, "Người làm chứng thứ 2: Nhập họ và tên.");
        let mut ok = r.clone();
        ok.insert("lc_so_giay_to.1".into(), vec!["B1234567".into()]);
        ok.insert("lc_ho_ten.2".into(), vec!["Phạm Văn Dũng".into()]);
        // An ID number of a witness without the box ticked is dropped.
        ok.insert("lc_so_giay_to.3".into(), vec!["X".into()]);
        let a = validate(&form, &ok, &BTreeSet::new(), today()).expect("valid");
        assert_eq!(a["nguoi_lam_chung"], vec!["3"]);
        assert_eq!(a["lc_so_giay_to.1"], vec!["B1234567"]);
        assert!(!a.contains_key("lc_so_giay_to.3"));
        // The count is kept within min–max.
        let mut few = ok.clone();
        few.insert("nguoi_lam_chung".into(), vec!["0".into()]);
        assert_eq!(form.layout(&few)[1].items.len(), 2);
        few.insert("nguoi_lam_chung".into(), vec!["99".into()]);
        assert_eq!(form.layout(&few)[1].items.len(), 4);
    }

    #[test]
    fn add_and_remove_items() {
        let form = conditional_form();
        let mut r = raw(&[("lc_ho_ten.1", "A"), ("lc_ho_ten.2", "B")]);
        assert!(add_item(&form, &mut r, "nguoi_lam_chung"));
        r.insert("lc_ho_ten.3".into(), vec!["C".into()]);
        assert!(add_item(&form, &mut r, "nguoi_lam_chung"));
        assert!(!add_item(&form, &mut r, "nguoi_lam_chung"), "max 4");
        assert!(!add_item(&form, &mut r, "khong_co"));
        assert!(remove_item(&form, &mut r, "nguoi_lam_chung", 1));
        assert_eq!(r["lc_ho_ten.1"], vec!["B"]);
        assert_eq!(r["lc_ho_ten.2"], vec!["C"]);
        assert!(!r.contains_key("lc_ho_ten.3"));
        assert_eq!(r["nguoi_lam_chung"], vec!["3"]);
        assert!(remove_item(&form, &mut r, "nguoi_lam_chung", 3));
        assert!(!remove_item(&form, &mut r, "nguoi_lam_chung", 1), "min 2");
    }

    #[test]
    fn keys_name_fields_items_and_counts() {
        let form = conditional_form();
        assert!(matches!(form.key("quoc_tich"), Some(Key::Field(f)) if f.name == "quoc_tich"));
        assert!(matches!(form.key("lc_ho_ten.4"), Some(Key::Field(_))));
        assert!(form.key("lc_ho_ten.5").is_none());
        assert!(form.key("lc_ho_ten.01").is_none());
        assert!(form.key("lc_ho_ten.0").is_none());
        assert!(form.key("lc_ho_ten").is_none());
        assert!(form.key("quoc_tich.1").is_none());
        assert!(matches!(form.key("nguoi_lam_chung"), Some(Key::Count(_))));
    }

    #[test]
    fn bad_conditions_and_groups_are_refused() {
        let base = conditional_form();
        let mut f = base.clone();
        f.sections[0].fields[0].show_if = Some(Condition {
            field: "quoc_tich_khac".into(),
            equals: vec![],
        });
        assert!(
            matches!(f.check(), Err(FormDefinitionError::BadCondition(..))),
            "looks forward"
        );
        let mut f = base.clone();
        f.sections[0].fields[1].show_if = Some(Condition {
            field: "khong_co".into(),
            equals: vec![],
        });
        assert!(f.check().is_err());
        let mut f = base.clone();
        if let Some(r) = f.sections[1].repeat.as_mut() {
            r.min = 5;
        }
        assert!(matches!(f.check(), Err(FormDefinitionError::BadRepeat(_))));
        let mut f = base.clone();
        if let Some(r) = f.sections[1].repeat.as_mut() {
            r.name = "quoc_tich".into();
        }
        assert!(matches!(f.check(), Err(FormDefinitionError::Duplicate(_))));
        // A top-level field may not depend on one item of a group.
        let mut f = base;
        f.sections.push(Section {
            title: "Sau".into(),
            description: None,
            show_if: None,
            repeat: None,
            fields: vec![{
                let mut x = field("sau", "Sau", FieldKind::Text, None);
                x.show_if = Some(Condition {
                    field: "lc_ho_ten".into(),
                    equals: vec![],
                });
                x
            }],
        });
        assert!(f.check().is_err());
    }

    #[test]
    fn a_refused_option_says_where_the_case_belongs() {
        let steer = "Nộp theo thủ tục “Đăng ký khai sinh có yếu tố nước ngoài” (mã 2.000528).";
        for kind in [FieldKind::Radio, FieldKind::Select, FieldKind::Checkbox] {
            let mut f = field("nuoc_ngoai", "Có yếu tố nước ngoài?", kind, None);
            f.options = vec![
                FieldOption {
                    value: "khong".into(),
                    label: "Không".into(),
                    refuse: None,
                },
                FieldOption {
                    value: "co".into(),
                    label: "Có".into(),
                    refuse: Some(steer.into()),
                },
            ];
            assert!(validate_field(&f, &["khong".into()], today()).is_ok());
            assert_eq!(
                validate_field(&f, &["co".into()], today()),
                Err(steer.to_string())
            );
        }
    }

    proptest! {
        #[test]
        fn validation_never_panics(values in proptest::collection::vec(any::<String>(), 0..3), kind in 0usize..10) {
            let kinds = [FieldKind::Text, FieldKind::Textarea, FieldKind::Number, FieldKind::Date, FieldKind::Email,
                FieldKind::Phone, FieldKind::CitizenId, FieldKind::Select, FieldKind::Radio, FieldKind::Checkbox];
            let mut f = field("x", "X", kinds[kind], None);
            f.options = vec![FieldOption { value: "a".into(), label: "A".into(), refuse: None }];
            f.pattern = Some("[0-9]+".into());
            let _ = validate_field(&f, &values, today());
        }

        /// Whatever is answered, a hidden field never has an answer nor an error, and the
        /// answers of a valid declaration validate to themselves.
        #[test]
        fn validation_follows_what_is_shown(
            quoc_tich in prop::sample::select(vec!["", "viet_nam", "khac", "sai"]),
            loai in prop::sample::select(vec!["", "giam_dinh", "khac"]),
            count in prop::sample::select(vec!["", "0", "2", "3", "4", "9", "x"]),
            names in proptest::collection::vec(prop::sample::select(vec!["", "An", "Bình"]), 5),
            boxes in proptest::collection::vec(any::<bool>(), 5),
            ids in proptest::collection::vec(prop::sample::select(vec!["", "B1"]), 5),
        ) {
            let form = conditional_form();
            let mut r = raw(&[("quoc_tich", quoc_tich), ("quoc_tich_khac", "Pháp"), ("loai_chung_cu", loai), ("nguoi_lam_chung", count)]);
            for i in 0..5 {
                r.insert(format!("lc_ho_ten.{}", i + 1), vec![names[i].to_string()]);
                if boxes[i] { r.insert(format!("lc_co_giay_to.{}", i + 1), vec!["co".into()]); }
                r.insert(format!("lc_so_giay_to.{}", i + 1), vec![ids[i].to_string()]);
            }
            let shown = form.shown_keys(&r);
            match validate(&form, &r, &BTreeSet::new(), today()) {
                Ok(a) => {
                    for k in a.keys() {
                        prop_assert!(shown.contains(k) || form.group(k).is_some(), "hidden {} answered", k);
                    }
                    prop_assert_eq!(validate(&form, &a, &BTreeSet::new(), today()), Ok(a.clone()));
                }
                Err(errs) => {
                    for e in errs {
                        prop_assert!(shown.contains(&e.field), "hidden {} reported", e.field);
                    }
                }
            }
        }

        #[test]
        fn valid_ids_round_trip(p in 1u32..=96, rest in "[0-9]{9}") {
            let id = format!("{p:03}{rest}");
            prop_assert_eq!(parse_citizen_id(&id), Ok(id.clone()));
        }

        #[test]
        fn dates_round_trip(y in 1900i16..2100, m in 1i8..=12, d in 1i8..=28) {
            let date = Date::new(y, m, d).expect("valid");
            prop_assert_eq!(parse_date(&date.to_string()), Some(date));
            prop_assert_eq!(parse_date(&format!("{d}/{m}/{y}")), Some(date));
        }
    }
}
