//! Renders a sample of every form, for looking at the layout:
//! `cargo run -p dvc-pdf --example receipt -- /tmp` writes /tmp/receipt.pdf and /tmp/mau-0N.pdf.

use dvc_pdf::{Document, DocumentRow, DossierInfo, Handover, Header, form_number, render};

fn header() -> Header {
    Header {
        agency_parent: "Ủy ban nhân dân thành phố Hải Phòng".to_owned(),
        agency: "Ủy ban nhân dân phường Hồng Bàng".to_owned(),
        number: "125/TNHS".to_owned(),
        place_date: "Hải Phòng, ngày 28 tháng 11 năm 2026".to_owned(),
    }
}

fn dossier() -> DossierInfo {
    DossierInfo {
        code: "000.00.00.H26-261128-0007".to_owned(),
        procedure_name: "Cấp Giấy xác nhận tình trạng hôn nhân".to_owned(),
        applicant_name: "Nguyễn Thị Ngọc Ánh".to_owned(),
        applicant_id_number: "031190001234".to_owned(),
        applicant_address: "Số 12 ngõ 34 phố Điện Biên Phủ, phường Hồng Bàng, thành phố Hải Phòng"
            .to_owned(),
        applicant_phone: "0912 345 678".to_owned(),
        applicant_email: "anh.nguyen@example.vn".to_owned(),
    }
}

fn row(name: &str, originals: u32, copies: u32) -> DocumentRow {
    DocumentRow {
        name: name.to_owned(),
        originals,
        copies,
    }
}

fn samples() -> Vec<(&'static str, Document)> {
    let documents = vec![
        row(
            "Tờ khai cấp Giấy xác nhận tình trạng hôn nhân (theo mẫu)",
            1,
            0,
        ),
        row(
            "Bản sao Giấy chứng nhận kết hôn đã ly hôn kèm Bản án/Quyết định ly hôn đã có hiệu lực pháp luật",
            0,
            1,
        ),
        row(
            "Giấy ủy quyền (trường hợp ủy quyền thực hiện thủ tục)",
            1,
            0,
        ),
    ];
    vec![
        (
            "receipt",
            Document::Receipt {
                header: header(),
                dossier: dossier(),
                documents: documents.clone(),
                sets: 1,
                legal_time: "03 ngày làm việc".to_owned(),
                received_at: "14 giờ 05 phút, ngày 28 tháng 11 năm 2026".to_owned(),
                due_at: "14 giờ 05 phút, ngày 03 tháng 12 năm 2026".to_owned(),
                result_at_place: "Bộ phận Một cửa UBND phường Hồng Bàng, số 1 Hoàng Văn Thụ"
                    .to_owned(),
                lookup_url:
                    "https://dichvucong.haiphong.gov.vn/tra-cuu?ma=000.00.00.H26-261128-0007"
                        .to_owned(),
                receiver_name: "Trần Văn Đức".to_owned(),
            },
        ),
        (
            "mau-02",
            Document::SupplementRequest {
                header: header(),
                dossier: dossier(),
                missing: documents[1..].to_vec(),
                reason:
                    "Bản sao Giấy chứng nhận kết hôn chưa được chứng thực; thiếu giấy ủy quyền."
                        .to_owned(),
                guide_contact: "ông Trần Văn Đức, Bộ phận Một cửa, điện thoại 0225 3842 111"
                    .to_owned(),
                officer_name: "Trần Văn Đức".to_owned(),
                upload_url:
                    "https://dichvucong.haiphong.gov.vn/bo-sung?ma=000.00.00.H26-261128-0007"
                        .to_owned(),
            },
        ),
        (
            "mau-03",
            Document::Refusal {
                header: header(),
                dossier: dossier(),
                reason: "Thủ tục không thuộc thẩm quyền giải quyết của Ủy ban nhân dân phường."
                    .to_owned(),
                officer_name: "Trần Văn Đức".to_owned(),
            },
        ),
        (
            "mau-04",
            Document::ApologyExtension {
                header: header(),
                dossier: dossier(),
                reason:
                    "Cần xác minh tình trạng hôn nhân tại nơi cư trú trước đây của người yêu cầu."
                        .to_owned(),
                old_due: "14 giờ 05 phút, ngày 03 tháng 12 năm 2026".to_owned(),
                new_due: "16 giờ 00 phút, ngày 10 tháng 12 năm 2026".to_owned(),
                signer: "Lê Minh Hoàng".to_owned(),
            },
        ),
        (
            "mau-05",
            Document::StopNotice {
                header: header(),
                dossier: dossier(),
                legal_reason: "Người yêu cầu đề nghị rút hồ sơ bằng văn bản ngày 01/12/2026."
                    .to_owned(),
                signer: "Lê Minh Hoàng".to_owned(),
            },
        ),
        (
            "mau-06",
            Document::ControlSlip {
                header: header(),
                dossier: dossier(),
                received_at: "14 giờ 05 phút, ngày 28/11/2026".to_owned(),
                due_at: "14 giờ 05 phút, ngày 03/12/2026".to_owned(),
                handovers: vec![
                    Handover {
                        from_unit: "Bộ phận Một cửa".to_owned(),
                        to_unit: "Công chức Tư pháp - Hộ tịch".to_owned(),
                        at: "15 giờ 30 phút, ngày 28/11/2026".to_owned(),
                        giver: "Trần Văn Đức".to_owned(),
                        receiver: "Phạm Thu Hà".to_owned(),
                        result: "Trước hạn".to_owned(),
                        note: String::new(),
                    },
                    Handover {
                        from_unit: "Công chức Tư pháp - Hộ tịch".to_owned(),
                        to_unit: "Lãnh đạo UBND phường".to_owned(),
                        at: "09 giờ 10 phút, ngày 01/12/2026".to_owned(),
                        giver: "Phạm Thu Hà".to_owned(),
                        receiver: "Lê Minh Hoàng".to_owned(),
                        result: "Đúng hạn".to_owned(),
                        note: "Trình ký".to_owned(),
                    },
                ],
            },
        ),
    ]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "/tmp".to_owned());
    for (name, doc) in samples() {
        let path = format!("{dir}/{name}.pdf");
        let bytes = render(&doc)?;
        std::fs::write(&path, &bytes)?;
        println!("{} -> {path} ({} bytes)", form_number(&doc), bytes.len());
    }
    Ok(())
}
