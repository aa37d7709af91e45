//! Renders every form and reads the PDFs back: structure, embedded subset fonts, text layer in
//! NFC, pagination of long inputs, and robustness against hostile strings.

mod pdf_text;

use dvc_pdf::{
    Document, DocumentRow, DossierInfo, Handover, Header, PdfError, form_number, render, title,
};
use unicode_normalization::UnicodeNormalization;

fn header() -> Header {
    Header {
        agency_parent: "ỦY BAN NHÂN DÂN THÀNH PHỐ HẢI PHÒNG".to_owned(),
        agency: "ỦY BAN NHÂN DÂN PHƯỜNG HỒNG BÀNG".to_owned(),
        number: "Số: 125/TNHS".to_owned(),
        place_date: "Hải Phòng, ngày 28 tháng 11 năm 2026".to_owned(),
    }
}

fn dossier() -> DossierInfo {
    DossierInfo {
        code: "000.00.00.H26-261128-0007".to_owned(),
        procedure_name: "Cấp Giấy xác nhận tình trạng hôn nhân".to_owned(),
        applicant_name: "Nguyễn Thị Ngọc Ánh".to_owned(),
        applicant_id_number: "031190001234".to_owned(),
        applicant_address: "Số 12 phố Điện Biên Phủ, phường Hồng Bàng".to_owned(),
        applicant_phone: "0912345678".to_owned(),
        applicant_email: "anh@example.vn".to_owned(),
    }
}

fn rows(n: usize) -> Vec<DocumentRow> {
    (0..n)
        .map(|i| DocumentRow {
            name: format!("Giấy tờ số {} – bản sao có chứng thực", i + 1),
            originals: 1,
            copies: 2,
        })
        .collect()
}

fn handovers(n: usize) -> Vec<Handover> {
    (0..n)
        .map(|i| Handover {
            from_unit: format!("Bộ phận {i}"),
            to_unit: format!("Phòng chuyên môn {i}"),
            at: "14 giờ 05 phút, ngày 28/11/2026".to_owned(),
            giver: "Trần Văn Đức".to_owned(),
            receiver: "Phạm Thu Hà".to_owned(),
            result: ["Trước hạn", "Đúng hạn", "Quá hạn", ""][i % 4].to_owned(),
            note: "Ghi chú".to_owned(),
        })
        .collect()
}

fn receipt(documents: Vec<DocumentRow>) -> Document {
    Document::Receipt {
        header: header(),
        dossier: dossier(),
        documents,
        sets: 1,
        legal_time: "03 ngày làm việc".to_owned(),
        received_at: "14 giờ 05 phút, ngày 28 tháng 11 năm 2026".to_owned(),
        due_at: "14 giờ 05 phút, ngày 03 tháng 12 năm 2026".to_owned(),
        result_at_place: "Bộ phận Một cửa phường Hồng Bàng".to_owned(),
        lookup_url: "https://dichvucong.example.vn/tra-cuu?ma=000.00.00.H26-261128-0007".to_owned(),
        receiver_name: "Trần Văn Đức".to_owned(),
    }
}

/// One document of each kind, with `text` in every free-text field.
fn all_forms(text: &str, list: usize) -> Vec<Document> {
    let s = || text.to_owned();
    vec![
        receipt(rows(list)),
        Document::SupplementRequest {
            header: header(),
            dossier: dossier(),
            missing: rows(list),
            reason: s(),
            guide_contact: s(),
            officer_name: "Trần Văn Đức".to_owned(),
            upload_url: "https://dichvucong.example.vn/bo-sung".to_owned(),
        },
        Document::Refusal {
            header: header(),
            dossier: dossier(),
            reason: s(),
            officer_name: s(),
        },
        Document::ApologyExtension {
            header: header(),
            dossier: dossier(),
            reason: s(),
            old_due: "ngày 03/12/2026".to_owned(),
            new_due: "ngày 10/12/2026".to_owned(),
            signer: s(),
        },
        Document::StopNotice {
            header: header(),
            dossier: dossier(),
            legal_reason: s(),
            signer: s(),
        },
        Document::ControlSlip {
            header: header(),
            dossier: dossier(),
            received_at: s(),
            due_at: s(),
            handovers: handovers(list),
        },
    ]
}

fn assert_valid_pdf(bytes: &[u8]) -> pdf_text::Pdf {
    assert!(bytes.starts_with(b"%PDF-"), "PDF header");
    assert!(bytes.len() > 10_000, "non-trivial size: {}", bytes.len());
    assert!(bytes.windows(5).any(|w| w == b"%%EOF"), "trailer");
    let pdf = pdf_text::parse(bytes);
    assert!(pdf.page_count() >= 1);
    pdf
}

/// Extracted text with line breaks turned into spaces, so that checks do not depend on wrapping.
fn flat(pdf: &pdf_text::Pdf) -> String {
    pdf.text().replace('\n', " ")
}

fn render_ok(doc: &Document) -> pdf_text::Pdf {
    let bytes = render(doc).expect("renders");
    assert_valid_pdf(&bytes)
}

#[test]
fn every_form_renders_one_page_with_title_and_header() {
    for doc in all_forms("Lý do cụ thể.", 3) {
        let pdf = render_ok(&doc);
        assert_eq!(pdf.page_count(), 1, "{}", form_number(&doc));
        let text = pdf.text();
        for expected in [
            title(&doc),
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
            "Độc lập - Tự do - Hạnh phúc",
            "HỒNG BÀNG",
            "Số: 125/TNHS",
            "Hải Phòng, ngày 28 tháng 11 năm 2026",
            form_number(&doc),
        ] {
            assert!(
                text.contains(expected),
                "{}: missing {expected:?} in\n{text}",
                form_number(&doc)
            );
        }
    }
}

#[test]
fn titles_and_form_numbers_follow_tt_03_2025() {
    let forms = all_forms("", 0);
    let numbers: Vec<&str> = forms.iter().map(form_number).collect();
    assert_eq!(
        numbers,
        [
            "Mẫu số 01",
            "Mẫu số 02",
            "Mẫu số 03",
            "Mẫu số 04",
            "Mẫu số 05",
            "Mẫu số 06"
        ]
    );
    assert_eq!(title(&forms[0]), "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ");
    assert_eq!(
        title(&forms[3]),
        "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT"
    );
    assert_eq!(title(&forms[4]), "THÔNG BÁO DỪNG GIẢI QUYẾT HỒ SƠ");
    assert_eq!(
        title(&forms[5]),
        "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ"
    );
    for doc in &forms {
        assert_eq!(title(doc), title(doc).to_uppercase());
    }
}

#[test]
fn fonts_are_embedded_subset_with_tounicode() {
    let pdf = render_ok(&receipt(rows(2)));
    let type0: Vec<&str> = pdf
        .dicts()
        .filter(|d| d.contains("/Subtype/Type0"))
        .collect();
    assert!(type0.len() >= 2, "regular and bold at least");
    for dict in &type0 {
        assert!(dict.contains("/ToUnicode"), "{dict}");
        assert!(dict.contains("/Identity-H"), "{dict}");
        // Subset fonts carry a six-letter tag: /BaseFont/ABCDEF+DejaVuSans…
        let name = &dict[dict.find("/BaseFont/").expect("base font") + 10..];
        assert_eq!(name.as_bytes()[6], b'+', "{dict}");
        assert!(name[..6].bytes().all(|b| b.is_ascii_uppercase()), "{dict}");
        assert!(name[7..].starts_with("DejaVuSans"), "{dict}");
    }
    assert!(
        pdf.dicts().filter(|d| d.contains("/FontFile2")).count() >= 2,
        "TrueType programs embedded"
    );
}

#[test]
fn receipt_text_layer_reads_back_in_nfc() {
    let pdf = render_ok(&receipt(rows(2)));
    let text = flat(&pdf);
    for expected in [
        "Mã hồ sơ: 000.00.00.H26-261128-0007",
        "Tiếp nhận hồ sơ của: Nguyễn Thị Ngọc Ánh",
        "Địa chỉ: Số 12 phố Điện Biên Phủ, phường Hồng Bàng",
        "Số điện thoại: 0912345678",
        "Email: anh@example.vn",
        "Nội dung yêu cầu giải quyết: Cấp Giấy xác nhận tình trạng hôn nhân",
        "Thành phần hồ sơ",
        "STT",
        "Tên giấy tờ, tài liệu",
        "Số bản chính",
        "Số bản sao",
        "Giấy tờ số 2 – bản sao có chứng thực",
        "2. Số lượng hồ sơ: 01 (bộ)",
        "3. Thời gian giải quyết hồ sơ theo quy định: 03 ngày làm việc",
        "4. Thời gian nhận hồ sơ: 14 giờ 05 phút, ngày 28 tháng 11 năm 2026",
        "5. Thời gian trả kết quả giải quyết hồ sơ: 14 giờ 05 phút, ngày 03 tháng 12 năm 2026",
        "6. Đăng ký nhận kết quả tại: Bộ phận Một cửa phường Hồng Bàng",
        "Quét mã để tra cứu hồ sơ",
        "NGƯỜI NỘP HỒ SƠ",
        "NGƯỜI TIẾP NHẬN HỒ SƠ",
        "(Ký và ghi rõ họ tên)",
        "Trần Văn Đức",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert_eq!(text, text.nfc().collect::<String>(), "text layer is NFC");
}

#[test]
fn nfd_input_is_drawn_and_extracted_as_nfc() {
    let nfd: String = "Nguyễn Văn Đạt, Hồng Bàng".nfd().collect();
    assert_ne!(nfd, "Nguyễn Văn Đạt, Hồng Bàng");
    let mut doc = receipt(rows(1));
    if let Document::Receipt { dossier, .. } = &mut doc {
        dossier.applicant_name = nfd.clone();
    }
    let text = render_ok(&doc).text();
    assert!(
        flat(&render_ok(&doc)).contains("Nguyễn Văn Đạt, Hồng Bàng"),
        "{text}"
    );
    assert!(!text.contains(&nfd));
}

#[test]
fn receipt_draws_the_qr_code_as_vector_rectangles() {
    // krilla writes each rectangle as a closed subpath (m l l l h).
    let count_rects = |doc: &Document| {
        let contents = render_ok(doc).contents();
        contents
            .iter()
            .flat_map(|c| c.lines())
            .filter(|l| *l == "h" || l.starts_with("h "))
            .count()
    };
    let with_qr = count_rects(&receipt(rows(1)));
    let mut doc = receipt(rows(1));
    if let Document::Receipt { lookup_url, .. } = &mut doc {
        lookup_url.clear();
    }
    let without_qr = count_rects(&doc);
    assert!(
        with_qr >= without_qr + 100,
        "QR modules: {with_qr} vs {without_qr}"
    );
    assert!(
        !render_ok(&doc).text().contains("Quét mã"),
        "no caption without a URL"
    );
}

#[test]
fn rendering_is_deterministic() {
    let doc = receipt(rows(3));
    assert_eq!(render(&doc), render(&doc));
}

#[test]
fn long_document_list_spans_pages_and_repeats_the_table_header() {
    let pdf = render_ok(&receipt(rows(60)));
    let pages = pdf.page_count();
    assert!(pages >= 3, "60 rows should need several pages, got {pages}");
    let text = pdf.text();
    assert_eq!(
        text.matches("Số bản chính").count(),
        pages - usize::from(!last_page_has_table(&text)),
        "{text}"
    );
    assert!(text.contains("Giấy tờ số 60 – bản sao có chứng thực"));
    assert!(
        text.contains(&format!("Trang 1/{pages}"))
            && text.contains(&format!("Trang {pages}/{pages}"))
    );
    assert!(
        text.contains("NGƯỜI TIẾP NHẬN HỒ SƠ"),
        "signatures after the table"
    );
}

/// Whether the table still runs on the last page (otherwise only signatures are there).
fn last_page_has_table(text: &str) -> bool {
    text.rsplit('\u{c}')
        .next()
        .is_some_and(|last| last.contains("bản sao có chứng thực"))
}

#[test]
fn forty_handovers_span_pages() {
    let doc = Document::ControlSlip {
        header: header(),
        dossier: dossier(),
        received_at: "28/11/2026".to_owned(),
        due_at: "03/12/2026".to_owned(),
        handovers: handovers(40),
    };
    let pdf = render_ok(&doc);
    assert!(pdf.page_count() >= 2, "pages: {}", pdf.page_count());
    let text = flat(&pdf);
    // Cells of one row share lines, so check the row count rather than whole cell texts.
    assert_eq!(text.matches("Giao: Bộ phận").count(), 40, "{text}");
    assert!(text.contains("Giao: Bộ phận 39"));
    assert!(text.contains("Quá hạn") && text.contains("Trước hạn") && text.contains("Đúng hạn"));
    assert_eq!(
        text.matches("Người giao").count(),
        pdf.page_count(),
        "header on every page"
    );
}

#[test]
fn thousand_character_reasons_wrap_onto_more_pages() {
    let reason = "Hồ sơ chưa đầy đủ theo quy định của pháp luật về hộ tịch; ".repeat(20);
    let reason: String = reason.chars().take(1000).collect();
    for doc in all_forms(&reason, 60) {
        let pdf = render_ok(&doc);
        assert!(
            pdf.page_count() >= 2,
            "{}: {} pages",
            form_number(&doc),
            pdf.page_count()
        );
    }
    // The reason itself wraps (about 12 lines) rather than running off the page.
    let doc = Document::Refusal {
        header: header(),
        dossier: dossier(),
        reason: reason.clone(),
        officer_name: "A".to_owned(),
    };
    let text = render_ok(&doc).text();
    assert!(text.matches("hộ tịch;").count() >= 15, "{text}");
}

#[test]
fn huge_cells_and_words_are_split_not_lost() {
    let word = "Ỹ".repeat(5000);
    let doc = receipt(vec![DocumentRow {
        name: word.clone(),
        originals: 1,
        copies: 0,
    }]);
    let pdf = render_ok(&doc);
    assert!(
        pdf.page_count() >= 2,
        "a cell taller than a page is split across pages"
    );
    let text: String = pdf.text().chars().filter(|&c| c == 'Ỹ').collect();
    assert_eq!(text.chars().count(), 5000);
}

#[test]
fn hostile_strings_do_not_panic() {
    let hostile = [
        String::new(),
        " \n\t\r ".to_owned(),
        "\u{0}\u{1}\u{7}\u{1b}[31mđỏ\u{7f}\u{9b}".to_owned(),
        "\u{202e}gnp.exe\u{202c} \u{2067}עברית\u{2069} العربية مرحبا".to_owned(),
        "😀👨‍👩‍👧‍👦🇻🇳 ✅ 🏳️‍🌈".to_owned(),
        "\u{301}\u{303}\u{323} dấu rời".to_owned(),
        "Z\u{334}\u{31b}\u{324}a\u{36b}\u{301}\u{307}l\u{368}\u{357}g\u{314}o\u{31e}".to_owned(),
        "\u{feff}\u{200b}\u{200d}\u{fffd}\u{ffff}\u{10ffff}".to_owned(),
        "\n".repeat(500),
        "a".repeat(3000),
        "中文 日本語 한국어 ไทย".to_owned(),
    ];
    for text in &hostile {
        let mut forms = all_forms(text, 2);
        forms.push(Document::Receipt {
            header: Header {
                agency_parent: text.clone(),
                agency: text.clone(),
                number: text.clone(),
                place_date: text.clone(),
            },
            dossier: DossierInfo {
                code: text.clone(),
                procedure_name: text.clone(),
                applicant_name: text.clone(),
                applicant_id_number: text.clone(),
                applicant_address: text.clone(),
                applicant_phone: text.clone(),
                applicant_email: text.clone(),
            },
            documents: vec![DocumentRow {
                name: text.clone(),
                originals: u32::MAX,
                copies: 0,
            }],
            sets: u32::MAX,
            legal_time: text.clone(),
            received_at: text.clone(),
            due_at: text.clone(),
            result_at_place: text.clone(),
            lookup_url: text.chars().take(200).collect(),
            receiver_name: text.clone(),
        });
        for doc in &forms {
            let pdf = render_ok(doc);
            let extracted = pdf.text();
            assert!(
                !extracted.contains('\u{202e}') && !extracted.contains('\u{1b}'),
                "controls are stripped"
            );
        }
    }
}

#[test]
fn a_lookup_url_too_long_for_a_qr_code_is_an_error() {
    let mut doc = receipt(rows(1));
    if let Document::Receipt { lookup_url, .. } = &mut doc {
        *lookup_url = "x".repeat(5000);
    }
    assert!(matches!(render(&doc), Err(PdfError::Qr(_))));
}

#[test]
fn empty_documents_render_with_fill_in_lines() {
    let empty = Document::Receipt {
        header: Header::default(),
        dossier: DossierInfo::default(),
        documents: Vec::new(),
        sets: 0,
        legal_time: String::new(),
        received_at: String::new(),
        due_at: String::new(),
        result_at_place: String::new(),
        lookup_url: String::new(),
        receiver_name: String::new(),
    };
    let text = render_ok(&empty).text();
    assert!(text.contains("Tiếp nhận hồ sơ của: ……"), "{text}");
    assert!(text.contains("Số: ……"), "{text}");
}

#[test]
#[ignore = "writes /tmp/dvc-pdf-long-*.pdf for looking at page breaks"]
fn write_long_samples() {
    let slip = Document::ControlSlip {
        header: header(),
        dossier: dossier(),
        received_at: "28/11/2026".to_owned(),
        due_at: "03/12/2026".to_owned(),
        handovers: handovers(40),
    };
    std::fs::write(
        "/tmp/dvc-pdf-long-slip.pdf",
        render(&slip).expect("renders"),
    )
    .expect("write");
    std::fs::write(
        "/tmp/dvc-pdf-long-receipt.pdf",
        render(&receipt(rows(60))).expect("renders"),
    )
    .expect("write");
}

#[test]
fn form_bodies_carry_their_fields() {
    let forms = all_forms("Lý do cụ thể", 2);
    let texts: Vec<String> = forms.iter().map(|doc| flat(&render_ok(doc))).collect();
    let expect = |i: usize, needles: &[&str]| {
        for needle in needles {
            assert!(
                texts[i].contains(needle),
                "{}: missing {needle:?} in\n{}",
                form_number(&forms[i]),
                texts[i]
            );
        }
    };
    expect(
        1,
        &[
            "Tiếp nhận hồ sơ của Ông/Bà: Nguyễn Thị Ngọc Ánh",
            "Thành phần hồ sơ cần bổ sung, hoàn thiện",
            "Lý do: Lý do cụ thể",
            "nộp bổ sung hồ sơ trực tuyến",
            "https://dichvucong.example.vn/bo-sung",
            "liên hệ Lý do cụ thể để được hướng dẫn",
            "NGƯỜI HƯỚNG DẪN",
        ],
    );
    expect(
        2,
        &[
            "từ chối tiếp nhận, giải quyết",
            "Lý do cụ thể",
            "NGƯỜI TIẾP NHẬN HỒ SƠ",
        ],
    );
    for i in [3, 4] {
        expect(
            i,
            &[
                "Kính gửi: Ông/Bà Nguyễn Thị Ngọc Ánh",
                "mã hồ sơ: 000.00.00.H26-261128-0007, nội dung yêu cầu giải quyết: Cấp Giấy xác nhận tình trạng hôn nhân.",
                "THỦ TRƯỞNG CƠ QUAN",
                "(Ký, ghi rõ họ tên và đóng dấu)",
            ],
        );
    }
    expect(3, &["ngày 03/12/2026", "ngày 10/12/2026", "xin lỗi"]);
    expect(4, &["dừng giải quyết hồ sơ", "căn cứ pháp lý"]);
    expect(
        5,
        &[
            "Kèm theo hồ sơ của: Nguyễn Thị Ngọc Ánh",
            "Người giao",
            "Giao: Bộ phận 1",
            "Ghi chú",
            "Trước hạn",
        ],
    );
}

#[test]
fn the_register_lists_each_dossier_of_the_period_over_pages() {
    let rows: Vec<dvc_pdf::RegisterRow> = (0..60)
        .map(|i| dvc_pdf::RegisterRow {
            code: format!("000.00.02.H31-261201-{:04}", i + 1),
            procedure_name: "Đăng ký khai sinh".to_owned(),
            sets: 1,
            applicant: format!("Nguyễn Văn {i}"),
            address_phone: "Số 1 phố Lạch Tray, 0912345678".to_owned(),
            agency: "UBND phường Hồng Bàng".to_owned(),
            received_at: "01/12/2026".to_owned(),
            due_at: "02/12/2026".to_owned(),
            forwarded_at: "01/12/2026".to_owned(),
            result_at: String::new(),
            returned_at: String::new(),
            note: "Đang xử lý".to_owned(),
        })
        .collect();
    let doc = Document::Register {
        header: header(),
        period: "Từ ngày 01/12/2026 đến ngày 31/12/2026".to_owned(),
        rows,
    };
    assert_eq!(form_number(&doc), "Mẫu số 07");
    let pdf = render_ok(&doc);
    assert!(pdf.page_count() >= 2, "pages: {}", pdf.page_count());
    let text = flat(&pdf);
    assert!(text.contains("SỔ THEO DÕI HỒ SƠ"), "{text}");
    assert!(text.contains("Từ ngày 01/12/2026"));
    // The column titles wrap inside their cells: look for words of each.
    for column in [
        "lượng",
        "(bộ)",
        "Tên cá",
        "Địa chỉ",
        "Cơ quan",
        "chủ trì",
        "Chuyển",
    ] {
        assert!(text.contains(column), "the register lacks {column}: {text}");
    }
    // Whole dates stay on one line of their cell.
    assert!(text.contains("02/12/2026"), "{text}");
    // Cells of one row share lines, so count the rows rather than read whole codes.
    // (the code wraps at its hyphen in its column of the landscape page).
    assert_eq!(text.matches("261201-00").count(), 60, "{text}");
    // An empty period says so.
    let empty = Document::Register {
        header: header(),
        period: "Từ ngày 01/12/2026 đến ngày 01/12/2026".to_owned(),
        rows: vec![],
    };
    assert!(flat(&render_ok(&empty)).contains("Không có hồ sơ nào"));
}
