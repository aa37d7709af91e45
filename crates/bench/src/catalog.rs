//! A catalogue of N procedures for the search benchmark: the sample procedures, plus copies of
//! them with new codes (`9.000001`…) and new, varied names (verb × subject × qualifier), written
//! as TOML files that `dichvucong import-catalog DIR` reads.

use anyhow::{Context, bail};
use std::path::Path;

const VERBS: [&str; 20] = [
    "Cấp",
    "Cấp lại",
    "Cấp đổi",
    "Gia hạn",
    "Điều chỉnh",
    "Thu hồi",
    "Đăng ký",
    "Đăng ký thay đổi",
    "Xác nhận",
    "Công nhận",
    "Thẩm định",
    "Phê duyệt",
    "Chấp thuận",
    "Bổ sung",
    "Chuyển đổi",
    "Hủy bỏ",
    "Tạm ngừng",
    "Khôi phục",
    "Cấp bản sao",
    "Đính chính",
];

const SUBJECTS: [&str; 50] = [
    "giấy phép xây dựng",
    "giấy phép kinh doanh vận tải",
    "giấy chứng nhận đủ điều kiện an toàn thực phẩm",
    "giấy phép lái xe",
    "giấy chứng nhận quyền sử dụng đất",
    "hộ kinh doanh",
    "hợp tác xã",
    "giấy phép bán lẻ rượu",
    "giấy phép kinh doanh karaoke",
    "chứng chỉ hành nghề dược",
    "giấy phép môi trường",
    "giấy phép khai thác nước mặt",
    "giấy chứng nhận đăng ký xe",
    "giấy phép hoạt động giáo dục",
    "trường mầm non tư thục",
    "cơ sở bảo trợ xã hội",
    "giấy phép lao động",
    "chứng chỉ hành nghề kiến trúc",
    "giấy phép quảng cáo",
    "hồ sơ trợ cấp xã hội",
    "chế độ người có công",
    "thẻ bảo hiểm y tế",
    "giấy phép đào đường",
    "giấy phép chặt hạ cây xanh",
    "giấy phép biểu diễn nghệ thuật",
    "di tích lịch sử",
    "giấy phép tổ chức lễ hội",
    "nhà văn hóa thôn",
    "giấy chứng nhận kinh tế trang trại",
    "giấy phép khai thác thủy sản",
    "tàu cá",
    "giấy chứng nhận kiểm dịch động vật",
    "cơ sở giết mổ",
    "giấy phép sử dụng vật liệu nổ",
    "phương án phòng cháy chữa cháy",
    "giấy phép vận chuyển hàng nguy hiểm",
    "biển số nhà",
    "giấy phép hoạt động thư viện",
    "câu lạc bộ thể thao",
    "giấy chứng nhận đủ điều kiện kinh doanh xăng dầu",
    "cửa hàng khí dầu mỏ hóa lỏng",
    "giấy phép thành lập hội",
    "quỹ xã hội từ thiện",
    "cơ sở tín ngưỡng",
    "giấy phép hoạt động in",
    "đại lý internet",
    "giấy phép thiết lập trang thông tin điện tử",
    "mã số thuế cá nhân",
    "hồ sơ địa chính",
    "giấy phép khai thác khoáng sản",
];

const QUALIFIERS: [&str; 10] = [
    "",
    " cho tổ chức",
    " cho cá nhân",
    " có yếu tố nước ngoài",
    " tại cấp xã",
    " tại cấp tỉnh",
    " trường hợp bị mất",
    " trường hợp hết hạn",
    " trực tuyến toàn trình",
    " trong khu công nghiệp",
];

/// Searches the benchmark sends in turn (already URL-encoded; without diacritics, as people type).
pub const QUERIES: [&str; 4] = [
    "khai+sinh",
    "giay+phep+xay+dung",
    "dang+ky+kinh+doanh",
    "gia+han+giay+phep",
];

fn first_line_value(text: &str, key: &str) -> Option<String> {
    let prefix = format!("{key} = \"");
    text.lines()
        .find(|l| l.starts_with(&prefix))
        .and_then(|l| l.strip_prefix(&prefix))
        .and_then(|l| l.strip_suffix('"'))
        .map(str::to_string)
}

fn replace_first_line(text: &str, key: &str, value: &str) -> String {
    let prefix = format!("{key} = \"");
    let mut done = false;
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        if !done && line.starts_with(&prefix) {
            out.push_str(&format!("{key} = \"{value}\""));
            done = true;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Writes `dst/agencies.toml` and `dst/procedures/*.toml` (`total` procedures in all) and a
/// `code<TAB>name` list for the baseline. Returns the number of procedures.
pub fn generate(src: &Path, dst: &Path, names: &Path, total: usize) -> anyhow::Result<usize> {
    let procs = dst.join("procedures");
    std::fs::create_dir_all(&procs)?;
    std::fs::copy(src.join("agencies.toml"), dst.join("agencies.toml"))
        .with_context(|| format!("copy {}/agencies.toml", src.display()))?;
    let mut samples = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(src.join("procedures"))
        .with_context(|| format!("read {}/procedures", src.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("toml"))
        .collect();
    entries.sort();
    let mut list = String::new();
    for p in entries {
        let text = std::fs::read_to_string(&p)?;
        let code = first_line_value(&text, "code").context("sample without code")?;
        let name = first_line_value(&text, "name").context("sample without name")?;
        list.push_str(&format!("{code}\t{name}\n"));
        std::fs::write(procs.join(p.file_name().context("file name")?), &text)?;
        samples.push(text);
    }
    if samples.is_empty() {
        bail!("no sample procedures in {}", src.display());
    }
    let extra = total.saturating_sub(samples.len());
    for i in 0..extra {
        let base = &samples[i % samples.len()];
        let code = format!("9.{:06}", i + 1);
        let name = format!(
            "{} {}{}",
            VERBS[i % VERBS.len()],
            SUBJECTS[(i / VERBS.len()) % SUBJECTS.len()],
            QUALIFIERS[(i / (VERBS.len() * SUBJECTS.len())) % QUALIFIERS.len()]
        );
        let text = replace_first_line(&replace_first_line(base, "code", &code), "name", &name);
        std::fs::write(procs.join(format!("{code}.toml")), text)?;
        list.push_str(&format!("{code}\t{name}\n"));
    }
    std::fs::write(names, list)?;
    Ok(samples.len() + extra)
}
