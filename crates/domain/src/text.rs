//! Vietnamese text folding.
//!
//! Search must find "Đăng ký khai sinh" from `dang ky khai sinh`, `DANG KY KHAI SINH` or `Dang ky`.
//! SQLite FTS5 does not fold `đ` (U+0111 has no canonical decomposition), so we fold ourselves:
//! NFD, drop combining marks, map đ/Đ to d, lowercase, collapse white space.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Folds Vietnamese text for comparison: no diacritics, `đ` → `d`, lowercase, single spaces,
/// punctuation other than letters and digits turned into spaces.
pub fn fold(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut pending_space = false;
    for c in input.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        let c = match c {
            'đ' | 'Đ' => 'd',
            _ => c,
        };
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.extend(c.to_lowercase());
        } else {
            pending_space = true;
        }
    }
    out
}

/// Removes diacritics and maps đ/Đ to d/D, keeping case and everything else ("Lệ phí" →
/// "Le phi"): Vietnamese without diacritics, as payment gateways ask for.
pub fn strip_diacritics(input: &str) -> String {
    input
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| match c {
            'đ' => 'd',
            'Đ' => 'D',
            _ => c,
        })
        .collect()
}

/// Normalises user-supplied text to NFC and trims it; control characters other than
/// new lines and tabs are removed so they can never reach a page, a PDF or a log line.
pub fn clean_input(input: &str) -> String {
    // Controls go first: removing one between a letter and its accent after composing would
    // leave the accent uncomposed (not NFC).
    input
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .nfc()
        .collect::<String>()
        .trim()
        .to_string()
}

/// True when every word of `query` (folded) appears as a word prefix in `haystack` (folded).
pub fn matches_all_words(folded_haystack: &str, folded_query: &str) -> bool {
    folded_query
        .split(' ')
        .filter(|w| !w.is_empty())
        .all(|w| folded_haystack.split(' ').any(|h| h.starts_with(w)))
}

/// True when every word of `folded_query` but the last appears as a whole word in
/// `folded_haystack`, and the last as the start of a word (the one still being typed):
/// "dang ky khai s" matches "dang ky khai sinh", "dan ky" does not.
pub fn matches_words(folded_haystack: &str, folded_query: &str) -> bool {
    let words: Vec<&str> = folded_query.split(' ').filter(|w| !w.is_empty()).collect();
    let Some((last, whole)) = words.split_last() else {
        return true;
    };
    whole
        .iter()
        .all(|w| folded_haystack.split(' ').any(|h| h == *w))
        && folded_haystack.split(' ').any(|h| h.starts_with(last))
}

/// Masks a personal name for public display: "Nguyễn Văn An" → "N***** V** A*".
pub fn mask_name(name: &str) -> String {
    name.split_whitespace()
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => {
                    let rest = chars.count();
                    format!("{first}{}", "*".repeat(rest))
                }
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn folds_vietnamese() {
        assert_eq!(fold("Đăng ký khai sinh"), "dang ky khai sinh");
        assert_eq!(fold("ĐĂNG KÝ KHAI SINH"), "dang ky khai sinh");
        assert_eq!(
            fold("  Chứng thực   bản sao, từ bản chính! "),
            "chung thuc ban sao tu ban chinh"
        );
        assert_eq!(fold("Giỗ Tổ Hùng Vương"), "gio to hung vuong");
        assert_eq!(fold("đổi"), "doi");
    }

    #[test]
    fn word_prefix_matching() {
        let h = fold("Đăng ký khai sinh");
        assert!(matches_all_words(&h, &fold("dang ky")));
        assert!(matches_all_words(&h, &fold("khai SINH")));
        assert!(matches_all_words(&h, &fold("kha")));
        assert!(!matches_all_words(&h, &fold("ket hon")));
        assert!(matches_words(&h, &fold("dang ky khai s")));
        assert!(matches_words(&h, &fold("Đăng KÝ")));
        assert!(
            !matches_words(&h, &fold("dan ky")),
            "only the last word is a prefix"
        );
        assert!(!matches_words(&h, &fold("ket")));
        assert!(matches_words(&h, ""));
    }

    #[test]
    fn masks_names() {
        assert_eq!(mask_name("Nguyễn Văn An"), "N***** V** A*");
        assert_eq!(mask_name(""), "");
    }

    #[test]
    fn clean_input_strips_controls() {
        assert_eq!(clean_input(" a\u{0}b\r\nc "), "ab\nc");
    }

    proptest! {
        #[test]
        fn fold_is_idempotent_and_ascii_for_vietnamese(s in "[a-zA-ZàáảãạăắằẳẵặâấầẩẫậđèéẻẽẹêếềểễệìíỉĩịòóỏõọôốồổỗộơớờởỡợùúủũụưứừửữựỳýỷỹỵĐ ,.!]{0,60}") {
            let once = fold(&s);
            prop_assert_eq!(fold(&once), once.clone());
            prop_assert!(once.is_ascii());
            prop_assert!(!once.starts_with(' ') && !once.ends_with(' '));
        }

        #[test]
        fn fold_never_panics(s in any::<String>()) {
            let _ = fold(&s);
            let _ = clean_input(&s);
            let _ = mask_name(&s);
        }
    }
}
