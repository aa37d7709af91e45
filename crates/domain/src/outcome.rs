//! How a dossier ends for the citizen (level 4): how the result is delivered (at the one-stop
//! desk, online as a digitally signed electronic result, or by the public postal service), the
//! postal tracking number, and the satisfaction rating given afterwards.

use crate::form::{Answers, Field, FieldKind, FieldOption, Section};
use serde::{Deserialize, Serialize};

/// The declaration's field where the citizen chooses how to receive the result.
pub const DELIVERY_FIELD: &str = "delivery";
/// The address the result is posted to (required when delivery is by post).
pub const DELIVERY_ADDRESS_FIELD: &str = "delivery_address";

/// How the citizen receives the result (the dossier's `delivery` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Tại Bộ phận Một cửa.
    #[default]
    Desk,
    /// Trực tuyến: the signed electronic result through the private link.
    Online,
    /// Qua dịch vụ bưu chính công ích.
    Post,
}

impl Delivery {
    pub const ALL: [Delivery; 3] = [Delivery::Desk, Delivery::Online, Delivery::Post];

    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Desk => "desk",
            Delivery::Online => "online",
            Delivery::Post => "post",
        }
    }

    pub fn parse(s: &str) -> Option<Delivery> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Delivery::Desk => "Nhận kết quả tại Bộ phận Một cửa",
            Delivery::Online => "Nhận kết quả trực tuyến (bản điện tử có chữ ký số)",
            Delivery::Post => "Nhận kết quả qua dịch vụ bưu chính công ích",
        }
    }

    /// The choice in validated answers (desk when the declaration has none).
    pub fn from_answers(answers: &Answers) -> Delivery {
        answers
            .get(DELIVERY_FIELD)
            .and_then(|v| v.first())
            .and_then(|v| Delivery::parse(v))
            .unwrap_or_default()
    }
}

/// The postal address in validated answers.
pub fn delivery_address(answers: &Answers) -> Option<&str> {
    answers
        .get(DELIVERY_ADDRESS_FIELD)
        .and_then(|v| v.first())
        .map(String::as_str)
}

/// The declaration's last section: how to receive the result. The address is required only
/// with delivery by post (the form engine's `required_when`).
pub fn delivery_section() -> Section {
    let choice = Field {
        name: DELIVERY_FIELD.into(),
        label: "Hình thức nhận kết quả".into(),
        kind: FieldKind::Radio,
        required: false,
        help: Some(
            "Nếu không chọn, Ông/Bà nhận kết quả tại Bộ phận Một cửa của cơ quan giải quyết."
                .into(),
        ),
        options: Delivery::ALL
            .iter()
            .map(|d| FieldOption {
                value: d.as_str().into(),
                label: d.label().into(),
                refuse: None,
            })
            .collect(),
        ..Field::blank()
    };
    let address = Field {
        name: DELIVERY_ADDRESS_FIELD.into(),
        label: "Địa chỉ nhận kết quả qua bưu chính".into(),
        kind: FieldKind::Textarea,
        required: false,
        required_when: Some(crate::form::Condition {
            field: DELIVERY_FIELD.into(),
            equals: vec![Delivery::Post.as_str().into()],
        }),
        help: Some(
            "Bắt buộc khi nhận kết quả qua bưu chính: số nhà, đường/thôn, xã/phường, tỉnh/thành phố; người nhận trả cước theo giá của dịch vụ bưu chính công ích."
                .into(),
        ),
        min_length: Some(10),
        max_length: Some(300),
        ..Field::blank()
    };
    Section {
        title: "Hình thức nhận kết quả".into(),
        description: None,
        show_if: None,
        repeat: None,
        fields: vec![choice, address],
    }
}

/// A postal tracking number (số hiệu bưu gửi) as typed by an official: spaces removed,
/// upper case; 8–30 letters, digits or `-`, with at least one digit (e.g. EB123456789VN).
pub fn parse_tracking(raw: &str) -> Result<String, &'static str> {
    let t: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if t.is_empty() {
        return Err(
            "Nhập số hiệu bưu gửi (mã vận đơn) của kết quả gửi qua dịch vụ bưu chính công ích.",
        );
    }
    let ok = (8..=30).contains(&t.len())
        && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && t.chars().any(|c| c.is_ascii_digit());
    if ok {
        Ok(t)
    } else {
        Err(
            "Số hiệu bưu gửi gồm 8–30 chữ cái không dấu, chữ số hoặc dấu gạch ngang, ví dụ EB123456789VN. Kiểm tra lại trên phiếu gửi.",
        )
    }
}

/// The citizen's satisfaction with the handling of a dossier (the dossier's `rating` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    VerySatisfied,
    Satisfied,
    Dissatisfied,
}

impl Rating {
    pub const ALL: [Rating; 3] = [
        Rating::VerySatisfied,
        Rating::Satisfied,
        Rating::Dissatisfied,
    ];

    /// The stored value: 1 rất hài lòng, 2 hài lòng, 3 không hài lòng.
    pub fn value(self) -> i64 {
        match self {
            Rating::VerySatisfied => 1,
            Rating::Satisfied => 2,
            Rating::Dissatisfied => 3,
        }
    }

    pub fn from_value(v: i64) -> Option<Rating> {
        Self::ALL.into_iter().find(|r| r.value() == v)
    }

    /// From a form's value ("1", "2" or "3").
    pub fn parse(s: &str) -> Option<Rating> {
        s.trim().parse().ok().and_then(Rating::from_value)
    }

    pub fn label(self) -> &'static str {
        match self {
            Rating::VerySatisfied => "Rất hài lòng",
            Rating::Satisfied => "Hài lòng",
            Rating::Dissatisfied => "Không hài lòng",
        }
    }
}

/// Longest comment kept with a rating (characters).
pub const MAX_RATING_COMMENT: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_numbers() {
        assert_eq!(
            parse_tracking(" eb 1234 5678 9vn "),
            Ok("EB123456789VN".into())
        );
        assert!(parse_tracking("").is_err());
        assert!(parse_tracking("ABCDEFGHIJ").is_err(), "no digit");
        assert!(parse_tracking("EB12<script>").is_err());
        assert!(parse_tracking(&"1".repeat(31)).is_err());
    }

    #[test]
    fn ratings_and_deliveries_round_trip() {
        for r in Rating::ALL {
            assert_eq!(Rating::from_value(r.value()), Some(r));
            assert_eq!(Rating::parse(&r.value().to_string()), Some(r));
        }
        assert_eq!(Rating::parse("4"), None);
        assert_eq!(Rating::parse("x"), None);
        for d in Delivery::ALL {
            assert_eq!(Delivery::parse(d.as_str()), Some(d));
        }
        assert_eq!(Delivery::from_answers(&Answers::new()), Delivery::Desk);
    }
}
