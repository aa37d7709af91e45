//! PDF rendering of the one-stop-shop (Bộ phận Một cửa) documents.
//!
//! The forms follow the titles and numbering of Phụ lục I, Thông tư 03/2025/TT-VPCP (in force
//! 15/9/2025), which replaced the form set of Thông tư 01/2018/TT-VPCP:
//!
//! | [`Document`] variant | Form |
//! |---|---|
//! | [`Document::Receipt`] | Mẫu số 01 Giấy tiếp nhận hồ sơ và hẹn trả kết quả |
//! | [`Document::SupplementRequest`] | Mẫu số 02 Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ |
//! | [`Document::Refusal`] | Mẫu số 03 Phiếu từ chối tiếp nhận giải quyết hồ sơ |
//! | [`Document::ApologyExtension`] | Mẫu số 04 Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết |
//! | [`Document::StopNotice`] | Mẫu số 05 Thông báo dừng giải quyết hồ sơ |
//! | [`Document::ControlSlip`] | Mẫu số 06 Phiếu kiểm soát quá trình giải quyết hồ sơ |
//! | [`Document::Register`] | Mẫu số 07 Sổ theo dõi hồ sơ (the pages of a period) |
//!
//! The official body text of the TT 03/2025 forms was not available when this was written; the
//! body fields follow the consensus of several provincial one-stop implementations (see
//! the team's research notes on TT 03/2025/TT-VPCP). Mẫu số 07 (Sổ theo dõi hồ sơ) is a register,
//! not a document handed out: it is rendered as the pages of a period, one row per dossier.
//!
//! **Paper size.** Every document is laid out on A4 portrait, the register (Mẫu số 07) on A4
//! landscape: its table has a column per fact of the TT 01/2018 register (STT, mã hồ sơ, tên thủ
//! tục, số lượng hồ sơ, tên cá nhân/tổ chức, địa chỉ và số điện thoại, cơ quan chủ trì, the five
//! dates, ghi chú). TT 01/2018 designed forms 01–05 for A5; A4 is what offices print on and keeps
//! long tables readable.
//!
//! The crate is pure: the DejaVu Sans fonts are compiled in (`include_bytes!`), there is no file or
//! network I/O and no clock read. All text is NFC-normalised and stripped of control and
//! bidirectional-override characters before it is shaped, so the PDF's text layer extracts to the
//! same NFC text. Fonts are embedded as subsets with a ToUnicode map.

mod forms;
mod layout;

/// The left and right header blocks and the number/place-date row of an administrative document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// The superior body, e.g. "ỦY BAN NHÂN DÂN THÀNH PHỐ HẢI PHÒNG". Printed in capitals.
    pub agency_parent: String,
    /// The issuing body, e.g. "ỦY BAN NHÂN DÂN PHƯỜNG HỒNG BÀNG" or the one-stop centre. Printed in bold capitals.
    pub agency: String,
    /// The document number. Either the full line "Số: 125/TNHS" or just "125/TNHS" ("Số: " is then added).
    pub number: String,
    /// "Hải Phòng, ngày 28 tháng 11 năm 2026", printed in italics under the national motto.
    pub place_date: String,
}

/// One row of a list of dossier documents (giấy tờ, tài liệu).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentRow {
    /// Tên giấy tờ, tài liệu.
    pub name: String,
    /// Số bản chính.
    pub originals: u32,
    /// Số bản sao.
    pub copies: u32,
}

/// One hand-over of the dossier between units, a row of the Phiếu kiểm soát (Mẫu số 06).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handover {
    /// The unit handing over the dossier (bên giao).
    pub from_unit: String,
    /// The unit receiving it (bên nhận).
    pub to_unit: String,
    /// When, e.g. "14 giờ 05 phút, ngày 28/11/2026".
    pub at: String,
    /// Người giao.
    pub giver: String,
    /// Người nhận.
    pub receiver: String,
    /// "Trước hạn", "Đúng hạn", "Quá hạn" or "" when the step is still open.
    pub result: String,
    /// Ghi chú.
    pub note: String,
}

/// One dossier in the Sổ theo dõi hồ sơ (Mẫu số 07).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterRow {
    /// Mã hồ sơ.
    pub code: String,
    /// Tên thủ tục hành chính.
    pub procedure_name: String,
    /// Số lượng hồ sơ (bộ).
    pub sets: u32,
    /// Tên cá nhân, tổ chức (the applicant).
    pub applicant: String,
    /// Địa chỉ, số điện thoại of the applicant.
    pub address_phone: String,
    /// Cơ quan chủ trì giải quyết.
    pub agency: String,
    /// Ngày, giờ tiếp nhận.
    pub received_at: String,
    /// Ngày hẹn trả kết quả.
    pub due_at: String,
    /// Ngày chuyển hồ sơ đến bộ phận giải quyết.
    pub forwarded_at: String,
    /// Ngày nhận kết quả từ bộ phận giải quyết (phê duyệt).
    pub result_at: String,
    /// Ngày trả kết quả cho tổ chức, cá nhân.
    pub returned_at: String,
    /// Ghi chú (trạng thái, tiến độ).
    pub note: String,
}

/// The dossier and its applicant, common to every form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DossierInfo {
    /// Mã hồ sơ, e.g. "000.00.00.H49-250715-0001".
    pub code: String,
    /// Nội dung yêu cầu giải quyết: the procedure's name.
    pub procedure_name: String,
    /// Họ và tên (or organisation name) of the applicant.
    pub applicant_name: String,
    /// Số định danh cá nhân / căn cước / hộ chiếu.
    pub applicant_id_number: String,
    /// Địa chỉ.
    pub applicant_address: String,
    /// Số điện thoại.
    pub applicant_phone: String,
    /// Email.
    pub applicant_email: String,
}

/// A document to render. Empty strings are allowed everywhere; an empty fill-in field prints as a
/// dotted line so that the paper form can be completed by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Document {
    /// Mẫu số 01: Giấy tiếp nhận hồ sơ và hẹn trả kết quả.
    Receipt {
        /// Header block.
        header: Header,
        /// Dossier and applicant.
        dossier: DossierInfo,
        /// Thành phần hồ sơ.
        documents: Vec<DocumentRow>,
        /// Số lượng hồ sơ (bộ).
        sets: u32,
        /// Thời gian giải quyết hồ sơ theo quy định, e.g. "03 ngày làm việc".
        legal_time: String,
        /// Thời gian nhận hồ sơ, e.g. "14 giờ 05 phút, ngày 28 tháng 11 năm 2026".
        received_at: String,
        /// Thời gian trả kết quả giải quyết hồ sơ.
        due_at: String,
        /// Đăng ký nhận kết quả tại.
        result_at_place: String,
        /// Lookup address, printed as a QR code ("Quét mã để tra cứu hồ sơ") and as text.
        lookup_url: String,
        /// Người tiếp nhận hồ sơ.
        receiver_name: String,
    },
    /// Mẫu số 02: Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ.
    SupplementRequest {
        /// Header block.
        header: Header,
        /// Dossier and applicant.
        dossier: DossierInfo,
        /// The documents to add or complete.
        missing: Vec<DocumentRow>,
        /// Lý do.
        reason: String,
        /// Who to contact for guidance (officer, phone, address).
        guide_contact: String,
        /// Người hướng dẫn.
        officer_name: String,
        /// Where to upload the supplement online; printed as text and as a QR code.
        upload_url: String,
    },
    /// Mẫu số 03: Phiếu từ chối tiếp nhận giải quyết hồ sơ.
    Refusal {
        /// Header block.
        header: Header,
        /// Dossier and applicant.
        dossier: DossierInfo,
        /// The reason for refusing.
        reason: String,
        /// Người tiếp nhận hồ sơ who refuses it.
        officer_name: String,
    },
    /// Mẫu số 04: Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết.
    ApologyExtension {
        /// Header block.
        header: Header,
        /// Dossier and applicant.
        dossier: DossierInfo,
        /// Why the dossier is late.
        reason: String,
        /// The original appointment.
        old_due: String,
        /// The proposed new appointment.
        new_due: String,
        /// The head of the agency who signs.
        signer: String,
    },
    /// Mẫu số 05: Thông báo dừng giải quyết hồ sơ.
    StopNotice {
        /// Header block.
        header: Header,
        /// Dossier and applicant.
        dossier: DossierInfo,
        /// The legal ground for stopping.
        legal_reason: String,
        /// The head of the agency who signs.
        signer: String,
    },
    /// Mẫu số 06: Phiếu kiểm soát quá trình giải quyết hồ sơ.
    ControlSlip {
        /// Header block.
        header: Header,
        /// Dossier and applicant.
        dossier: DossierInfo,
        /// Ngày nhận hồ sơ.
        received_at: String,
        /// Ngày hẹn trả kết quả.
        due_at: String,
        /// One row per hand-over, in order.
        handovers: Vec<Handover>,
    },
    /// Mẫu số 07: Sổ theo dõi hồ sơ, the dossiers received in a period.
    Register {
        /// Header block.
        header: Header,
        /// The period, e.g. "Từ ngày 01/12/2026 đến ngày 31/12/2026".
        period: String,
        /// One row per dossier, in order of receipt.
        rows: Vec<RegisterRow>,
    },
}

/// Why a document could not be rendered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PdfError {
    /// An embedded font could not be parsed (a build problem, not an input problem).
    #[error("embedded font could not be loaded")]
    Font,
    /// The text for a QR code does not fit in a QR code (it is far too long).
    #[error("cannot encode QR code: {0}")]
    Qr(String),
    /// The PDF writer failed.
    #[error("PDF serialisation failed: {0}")]
    Pdf(String),
}

/// Renders `doc` to the bytes of a PDF file (A4 portrait, as many pages as needed).
pub fn render(doc: &Document) -> Result<Vec<u8>, PdfError> {
    forms::render(doc)
}

/// The document title as printed, in capitals, e.g. "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ".
pub fn title(doc: &Document) -> &'static str {
    match doc {
        Document::Receipt { .. } => "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
        Document::SupplementRequest { .. } => "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ",
        Document::Refusal { .. } => "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ",
        Document::ApologyExtension { .. } => {
            "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT"
        }
        Document::StopNotice { .. } => "THÔNG BÁO DỪNG GIẢI QUYẾT HỒ SƠ",
        Document::ControlSlip { .. } => "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ",
        Document::Register { .. } => "SỔ THEO DÕI HỒ SƠ",
    }
}

/// The form number in Phụ lục I of TT 03/2025/TT-VPCP, e.g. "Mẫu số 01".
pub fn form_number(doc: &Document) -> &'static str {
    match doc {
        Document::Receipt { .. } => "Mẫu số 01",
        Document::SupplementRequest { .. } => "Mẫu số 02",
        Document::Refusal { .. } => "Mẫu số 03",
        Document::ApologyExtension { .. } => "Mẫu số 04",
        Document::StopNotice { .. } => "Mẫu số 05",
        Document::ControlSlip { .. } => "Mẫu số 06",
        Document::Register { .. } => "Mẫu số 07",
    }
}
