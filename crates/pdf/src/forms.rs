//! One function per form. Wording follows the provincial implementations summarised in
//! the team's research notes on TT 03/2025/TT-VPCP; the official TT 03/2025 body text was not
//! available.

use crate::layout::{Align, BODY, Column, Flow, Page, Signature, Span, bold, fill_in, regular};
use crate::{
    Document, DocumentRow, DossierInfo, Handover, PdfError, RegisterRow, form_number, title,
};

/// Side of the printed QR code, quiet zone included (about 32 mm).
const QR_SIDE: f32 = 90.0;
const SIGN_HINT: &str = "(Ký và ghi rõ họ tên)";
const HEAD_HINT: &str = "(Ký, ghi rõ họ tên và đóng dấu)";

pub(crate) fn render(doc: &Document) -> Result<Vec<u8>, PdfError> {
    if let Document::Register {
        header,
        period,
        rows,
    } = doc
    {
        // A4 landscape: the register has a column per fact of each dossier.
        let mut flow = Flow::with_page(Page::LANDSCAPE)?;
        flow.admin_header(header, form_number(doc));
        register(&mut flow, period, rows);
        return flow.finish(&format!("{} – {period}", title(doc)), period);
    }
    let (header, dossier) = match doc {
        Document::Receipt {
            header, dossier, ..
        }
        | Document::SupplementRequest {
            header, dossier, ..
        }
        | Document::Refusal {
            header, dossier, ..
        }
        | Document::ApologyExtension {
            header, dossier, ..
        }
        | Document::StopNotice {
            header, dossier, ..
        }
        | Document::ControlSlip {
            header, dossier, ..
        } => (header, dossier),
        Document::Register { .. } => return Err(PdfError::Pdf("unreachable".into())),
    };
    let mut flow = Flow::new()?;
    flow.admin_header(header, form_number(doc));
    match doc {
        Document::Receipt {
            dossier,
            documents,
            sets,
            legal_time,
            received_at,
            due_at,
            result_at_place,
            lookup_url,
            receiver_name,
            ..
        } => receipt(
            &mut flow,
            dossier,
            documents,
            *sets,
            [legal_time, received_at, due_at, result_at_place],
            lookup_url,
            receiver_name,
        )?,
        Document::SupplementRequest {
            dossier,
            missing,
            reason,
            guide_contact,
            officer_name,
            upload_url,
            ..
        } => supplement_request(
            &mut flow,
            dossier,
            missing,
            reason,
            guide_contact,
            officer_name,
            upload_url,
        )?,
        Document::Refusal {
            dossier,
            reason,
            officer_name,
            ..
        } => refusal(&mut flow, dossier, reason, officer_name),
        Document::ApologyExtension {
            dossier,
            reason,
            old_due,
            new_due,
            signer,
            ..
        } => apology_extension(&mut flow, dossier, reason, old_due, new_due, signer),
        Document::StopNotice {
            dossier,
            legal_reason,
            signer,
            ..
        } => stop_notice(&mut flow, dossier, legal_reason, signer),
        Document::ControlSlip {
            dossier,
            received_at,
            due_at,
            handovers,
            ..
        } => control_slip(&mut flow, dossier, received_at, due_at, handovers),
        Document::Register { .. } => {}
    }
    let code = dossier.code.trim();
    let footer = if code.is_empty() {
        String::new()
    } else {
        format!("Mã hồ sơ: {code}")
    };
    let meta_title = if code.is_empty() {
        title(doc).to_owned()
    } else {
        format!("{} – {code}", title(doc))
    };
    flow.finish(&meta_title, &footer)
}

/// The title with "Mã hồ sơ: …" under it.
fn title_with_code(flow: &mut Flow, title: &str, dossier: &DossierInfo) {
    flow.title(title, &[regular("Mã hồ sơ: "), bold(&dossier.code)]);
}

/// Applicant identity and contact, then the requested procedure.
fn applicant(flow: &mut Flow, intro: &str, dossier: &DossierInfo) {
    flow.field(intro, &dossier.applicant_name);
    flow.field(
        "Số định danh cá nhân/Hộ chiếu:",
        &dossier.applicant_id_number,
    );
    flow.field("Địa chỉ:", &dossier.applicant_address);
    flow.field_pair(
        "Số điện thoại:",
        &dossier.applicant_phone,
        "Email:",
        &dossier.applicant_email,
    );
    flow.field("Nội dung yêu cầu giải quyết:", &dossier.procedure_name);
    flow.gap(4.0);
}

/// The "Thành phần hồ sơ" table: STT | Tên giấy tờ | Số bản chính | Số bản sao.
fn documents_table(flow: &mut Flow, name_title: &str, rows: &[DocumentRow]) {
    let columns = [
        Column {
            title: "STT",
            width: 0.08,
            align: Align::Center,
        },
        Column {
            title: name_title,
            width: 0.58,
            align: Align::Left,
        },
        Column {
            title: "Số bản chính",
            width: 0.17,
            align: Align::Center,
        },
        Column {
            title: "Số bản sao",
            width: 0.17,
            align: Align::Center,
        },
    ];
    let mut cells: Vec<Vec<String>> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            vec![
                (i + 1).to_string(),
                row.name.clone(),
                row.originals.to_string(),
                row.copies.to_string(),
            ]
        })
        .collect();
    if cells.is_empty() {
        cells.push(vec![String::new(); 4]);
    }
    flow.table(&columns, &cells, BODY - 1.0);
}

/// Text followed by a QR code, or nothing when `url` is empty.
fn qr(flow: &mut Flow, url: &str, caption: &str) -> Result<(), PdfError> {
    let url = url.trim();
    if url.is_empty() {
        return Ok(());
    }
    flow.qr_block(
        url,
        QR_SIDE,
        &[bold(caption), regular("\nhoặc truy cập: "), regular(url)],
    )
}

fn paragraph(flow: &mut Flow, spans: &[Span<'_>]) {
    flow.paragraph(spans, BODY, Align::Left);
    flow.gap(3.0);
}

/// Mẫu số 01: Giấy tiếp nhận hồ sơ và hẹn trả kết quả.
fn receipt(
    flow: &mut Flow,
    dossier: &DossierInfo,
    documents: &[DocumentRow],
    sets: u32,
    [legal_time, received_at, due_at, result_at_place]: [&String; 4],
    lookup_url: &str,
    receiver_name: &str,
) -> Result<(), PdfError> {
    title_with_code(flow, "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ", dossier);
    applicant(flow, "Tiếp nhận hồ sơ của:", dossier);
    paragraph(flow, &[regular("1. Thành phần hồ sơ nộp gồm:")]);
    documents_table(flow, "Tên giấy tờ, tài liệu", documents);
    flow.field("2. Số lượng hồ sơ:", &format!("{sets:02} (bộ)"));
    flow.field("3. Thời gian giải quyết hồ sơ theo quy định:", legal_time);
    flow.field("4. Thời gian nhận hồ sơ:", received_at);
    flow.field("5. Thời gian trả kết quả giải quyết hồ sơ:", due_at);
    flow.field("6. Đăng ký nhận kết quả tại:", result_at_place);
    flow.gap(8.0);
    qr(flow, lookup_url, "Quét mã để tra cứu hồ sơ")?;
    flow.signatures(
        Some(Signature {
            role: "NGƯỜI NỘP HỒ SƠ",
            hint: SIGN_HINT,
            name: &dossier.applicant_name,
        }),
        Some(Signature {
            role: "NGƯỜI TIẾP NHẬN HỒ SƠ",
            hint: SIGN_HINT,
            name: receiver_name,
        }),
    );
    Ok(())
}

/// Mẫu số 02: Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ.
fn supplement_request(
    flow: &mut Flow,
    dossier: &DossierInfo,
    missing: &[DocumentRow],
    reason: &str,
    guide_contact: &str,
    officer_name: &str,
    upload_url: &str,
) -> Result<(), PdfError> {
    title_with_code(flow, "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ", dossier);
    applicant(flow, "Tiếp nhận hồ sơ của Ông/Bà:", dossier);
    paragraph(
        flow,
        &[regular(
            "Yêu cầu Ông/Bà bổ sung, hoàn thiện hồ sơ gồm những nội dung như sau:",
        )],
    );
    documents_table(flow, "Thành phần hồ sơ cần bổ sung, hoàn thiện", missing);
    paragraph(flow, &[bold("Lý do: "), regular(&fill_in(reason))]);
    qr(
        flow,
        upload_url,
        "Ông/Bà có thể nộp bổ sung hồ sơ trực tuyến: quét mã",
    )?;
    paragraph(
        flow,
        &[
            regular("Trong quá trình hoàn thiện hồ sơ, nếu có vướng mắc, Ông/Bà liên hệ "),
            bold(&fill_in(guide_contact)),
            regular(" để được hướng dẫn."),
        ],
    );
    flow.signatures(
        None,
        Some(Signature {
            role: "NGƯỜI HƯỚNG DẪN",
            hint: SIGN_HINT,
            name: officer_name,
        }),
    );
    Ok(())
}

/// Mẫu số 03: Phiếu từ chối tiếp nhận giải quyết hồ sơ.
fn refusal(flow: &mut Flow, dossier: &DossierInfo, reason: &str, officer_name: &str) {
    title_with_code(flow, "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ", dossier);
    applicant(flow, "Tiếp nhận hồ sơ của:", dossier);
    paragraph(
        flow,
        &[regular(
            "Sau khi xem xét, đối chiếu hồ sơ với quy định, cơ quan tiếp nhận từ chối tiếp nhận, giải quyết \
             hồ sơ này với lý do cụ thể như sau:",
        )],
    );
    paragraph(flow, &[regular(&fill_in(reason))]);
    paragraph(
        flow,
        &[regular("Xin thông báo để Ông/Bà được biết và thực hiện./.")],
    );
    flow.signatures(
        None,
        Some(Signature {
            role: "NGƯỜI TIẾP NHẬN HỒ SƠ",
            hint: SIGN_HINT,
            name: officer_name,
        }),
    );
}

/// "Kính gửi: …" and the address, for the letters (Mẫu 04, 05).
fn addressee(flow: &mut Flow, dossier: &DossierInfo) {
    flow.paragraph(
        &[
            regular("Kính gửi: Ông/Bà "),
            bold(&fill_in(&dossier.applicant_name)),
        ],
        BODY,
        Align::Center,
    );
    flow.gap(6.0);
    flow.field("Địa chỉ:", &dossier.applicant_address);
    flow.field_pair(
        "Số điện thoại:",
        &dossier.applicant_phone,
        "Email:",
        &dossier.applicant_email,
    );
    flow.gap(4.0);
}

/// "We received your dossier <code> for <procedure>" sentence of the letters.
fn received_sentence<'a>(code: &'a str, procedure: &'a str) -> [Span<'a>; 5] {
    [
        regular("Chúng tôi đã tiếp nhận hồ sơ của Ông/Bà, mã hồ sơ: "),
        bold(code),
        regular(", nội dung yêu cầu giải quyết: "),
        bold(procedure),
        regular("."),
    ]
}

/// Mẫu số 04: Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết.
fn apology_extension(
    flow: &mut Flow,
    dossier: &DossierInfo,
    reason: &str,
    old_due: &str,
    new_due: &str,
    signer: &str,
) {
    flow.title(
        "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT",
        &[],
    );
    addressee(flow, dossier);
    let (code, procedure) = (fill_in(&dossier.code), fill_in(&dossier.procedure_name));
    paragraph(flow, &received_sentence(&code, &procedure));
    paragraph(
        flow,
        &[
            regular("Thời hạn trả kết quả theo giấy tiếp nhận: "),
            bold(&fill_in(old_due)),
            regular("."),
        ],
    );
    paragraph(
        flow,
        &[
            regular(
                "Tuy nhiên, đến nay hồ sơ chưa được giải quyết xong theo thời hạn trên. Lý do: ",
            ),
            regular(&fill_in(reason)),
        ],
    );
    paragraph(
        flow,
        &[
            regular(
                "Chúng tôi thành thật xin lỗi Ông/Bà vì sự chậm trễ này và đề nghị gia hạn thời gian giải quyết \
                 hồ sơ. Thời gian trả kết quả được hẹn lại: ",
            ),
            bold(&fill_in(new_due)),
            regular("."),
        ],
    );
    paragraph(
        flow,
        &[regular("Rất mong nhận được sự thông cảm của Ông/Bà./.")],
    );
    flow.signatures(
        None,
        Some(Signature {
            role: "THỦ TRƯỞNG CƠ QUAN",
            hint: HEAD_HINT,
            name: signer,
        }),
    );
}

/// Mẫu số 05: Thông báo dừng giải quyết hồ sơ.
fn stop_notice(flow: &mut Flow, dossier: &DossierInfo, legal_reason: &str, signer: &str) {
    flow.title("THÔNG BÁO DỪNG GIẢI QUYẾT HỒ SƠ", &[]);
    addressee(flow, dossier);
    let (code, procedure) = (fill_in(&dossier.code), fill_in(&dossier.procedure_name));
    paragraph(flow, &received_sentence(&code, &procedure));
    paragraph(
        flow,
        &[regular(
            "Chúng tôi thông báo dừng giải quyết hồ sơ nêu trên. Lý do và căn cứ pháp lý:",
        )],
    );
    paragraph(flow, &[regular(&fill_in(legal_reason))]);
    paragraph(flow, &[regular("Xin thông báo để Ông/Bà được biết./.")]);
    flow.signatures(
        None,
        Some(Signature {
            role: "THỦ TRƯỞNG CƠ QUAN",
            hint: HEAD_HINT,
            name: signer,
        }),
    );
}

/// Mẫu số 06: Phiếu kiểm soát quá trình giải quyết hồ sơ.
fn control_slip(
    flow: &mut Flow,
    dossier: &DossierInfo,
    received_at: &str,
    due_at: &str,
    handovers: &[Handover],
) {
    title_with_code(flow, "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ", dossier);
    flow.field("Kèm theo hồ sơ của:", &dossier.applicant_name);
    flow.field("Nội dung yêu cầu giải quyết:", &dossier.procedure_name);
    flow.field("Ngày nhận hồ sơ:", received_at);
    flow.field("Ngày hẹn trả kết quả:", due_at);
    flow.gap(6.0);
    let columns = [
        Column {
            title: "STT",
            width: 0.06,
            align: Align::Center,
        },
        Column {
            title: "Tên cơ quan/ bộ phận giao, nhận",
            width: 0.22,
            align: Align::Left,
        },
        Column {
            title: "Thời gian giao, nhận hồ sơ",
            width: 0.17,
            align: Align::Left,
        },
        Column {
            title: "Người giao",
            width: 0.13,
            align: Align::Center,
        },
        Column {
            title: "Người nhận",
            width: 0.13,
            align: Align::Center,
        },
        Column {
            title: "Kết quả giải quyết (Trước hạn/ Đúng hạn/ Quá hạn)",
            width: 0.15,
            align: Align::Center,
        },
        Column {
            title: "Ghi chú",
            width: 0.14,
            align: Align::Left,
        },
    ];
    let mut rows: Vec<Vec<String>> = handovers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            vec![
                (i + 1).to_string(),
                format!("Giao: {}\nNhận: {}", h.from_unit, h.to_unit),
                h.at.clone(),
                h.giver.clone(),
                h.receiver.clone(),
                h.result.clone(),
                h.note.clone(),
            ]
        })
        .collect();
    if rows.is_empty() {
        rows.push(vec![String::new(); columns.len()]);
    }
    flow.table(&columns, &rows, BODY - 2.0);
}

/// Mẫu số 07: Sổ theo dõi hồ sơ, one row per dossier received in the period.
fn register(flow: &mut Flow, period: &str, rows: &[RegisterRow]) {
    flow.title("SỔ THEO DÕI HỒ SƠ", &[regular(period)]);
    let column = |title, width, align| Column {
        title,
        width,
        align,
    };
    // The columns of the Sổ theo dõi hồ sơ (TT 01/2018/TT-VPCP Mẫu số 06, now TT 03/2025/TT-VPCP
    // Mẫu số 07).
    let columns = [
        column("STT", 0.03, Align::Center),
        column("Mã hồ sơ", 0.11, Align::Left),
        column("Tên thủ tục hành chính", 0.095, Align::Left),
        column("Số lượng hồ sơ (bộ)", 0.045, Align::Center),
        column("Tên cá nhân, tổ chức", 0.085, Align::Left),
        column("Địa chỉ, số điện thoại", 0.1, Align::Left),
        column("Cơ quan chủ trì giải quyết", 0.08, Align::Left),
        // A date ("14:05, 01/12/2026") fits on two lines.
        column("Nhận hồ sơ", 0.08, Align::Center),
        column("Hẹn trả kết quả", 0.08, Align::Center),
        column("Chuyển hồ sơ đến cơ quan giải quyết", 0.08, Align::Center),
        column("Nhận kết quả từ cơ quan giải quyết", 0.08, Align::Center),
        column("Trả kết quả cho tổ chức, cá nhân", 0.08, Align::Center),
        column("Ghi chú", 0.055, Align::Left),
    ];
    let mut table: Vec<Vec<String>> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            vec![
                (i + 1).to_string(),
                r.code.clone(),
                r.procedure_name.clone(),
                r.sets.to_string(),
                r.applicant.clone(),
                r.address_phone.clone(),
                r.agency.clone(),
                r.received_at.clone(),
                r.due_at.clone(),
                r.forwarded_at.clone(),
                r.result_at.clone(),
                r.returned_at.clone(),
                r.note.clone(),
            ]
        })
        .collect();
    if table.is_empty() {
        let mut empty = vec![String::new(); columns.len()];
        empty[1] = "Không có hồ sơ nào được tiếp nhận trong khoảng thời gian này.".into();
        table.push(empty);
    }
    flow.table(&columns, &table, BODY - 3.0);
}
