// The answers of the "Đăng ký khai sinh" journey (as in tests/api/helpers.rs), and small helpers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const PROC = '1.001193';
export const PROC_NAME = 'Đăng ký khai sinh';
export const AGENCY = '000.00.02.H31';
export const AGENCY_NAME = 'Ủy ban nhân dân phường Hồng Bàng (mẫu)';

export const ANSWERS = [
  ['agency_code', AGENCY],
  ['applicant_full_name', 'Nguyễn Thị Hoa'],
  ['applicant_birth_date', '1992-05-14'],
  ['applicant_id_number', '031192004567'],
  ['applicant_phone', '0912345678'],
  ['applicant_email', 'hoa.nguyen@example.vn'],
  ['applicant_address', 'Số 12 phố Điện Biên Phủ, phường Hồng Bàng, Hải Phòng'],
  ['tre_ho_ten', 'Trần Minh An'],
  ['tre_gioi_tinh', 'nam'],
  ['tre_ngay_sinh', daysAgoVn(10).split('/').reverse().join('-')], // ISO is accepted too
  ['tre_noi_sinh', 'Bệnh viện Phụ sản Hải Phòng'],
  ['yeu_to_nuoc_ngoai', 'khong'],
  ['tre_dan_toc', 'Kinh'],
  ['tre_quoc_tich', 'viet_nam'],
  ['tre_que_quan', 'Xã Kiến Thụy, thành phố Hải Phòng'],
  ['me_ho_ten', 'Nguyễn Thị Hoa'],
  ['me_so_dinh_danh', '031192004567'],
  ['me_ngay_sinh', '1992-05-14'],
  ['me_dan_toc', 'Kinh'],
  ['me_quoc_tich', 'viet_nam'],
  ['me_noi_cu_tru', 'Số 12 phố Điện Biên Phủ, phường Hồng Bàng, Hải Phòng'],
  ['cha_ho_ten', 'Trần Văn Bình'],
  ['cha_so_dinh_danh', '031090001234'],
  ['quan_he', 'me'],
  ['cam_doan', 'co'],
];

/** A small real one-page PDF (objects, cross-reference table, trailer), like result_pdf() in
 * tests/api/helpers.rs: a result the agency can digitally sign at "Trả kết quả". */
export function pdf() {
  const content = 'BT /F1 18 Tf 50 750 Td (GIAY KHAI SINH - ban dien tu) Tj ET';
  const objs = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.7\n';
  const offsets = [];
  objs.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** Writes the PDF to a file a person would pick in the file chooser (removed when the process ends). */
export function pdfFile(name = 'giay-chung-sinh.pdf') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dvc-e2e-upload-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const p = path.join(dir, name);
  fs.writeFileSync(p, pdf());
  return p;
}

/** A date `days` ago in Việt Nam as dd/mm/yyyy, the way a person types it (a birth date may not be in the future). */
export function daysAgoVn(days) {
  return new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Ho_Chi_Minh', day: '2-digit', month: '2-digit', year: 'numeric' })
    .format(new Date(Date.now() - days * 86_400_000));
}

/** The e-mail written by the server (DVC_SMTP_URL unset) that contains `text` (a string, or all of an array), decoded. Waits for the outbox. */
export async function mailContaining(dataDir, text, timeoutMs = 10_000) {
  const texts = Array.isArray(text) ? text : [text];
  const dir = path.join(dataDir, 'mail');
  const until = Date.now() + timeoutMs;
  for (;;) {
    const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.eml')) : [];
    for (const f of files) {
      const mail = decodeMime(fs.readFileSync(path.join(dir, f), 'utf8'));
      if (texts.every((t) => mail.includes(t))) return mail;
    }
    if (Date.now() > until) throw new Error(`no e-mail containing ${texts.join(' and ')} in ${dir} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Enough MIME for a single-part text message: base64 or quoted-printable body. */
function decodeMime(raw) {
  const [head, ...rest] = raw.split(/\r?\n\r?\n/);
  const body = rest.join('\n\n');
  const enc = (head.match(/content-transfer-encoding:\s*(\S+)/i) || [])[1]?.toLowerCase();
  if (enc === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (enc === 'quoted-printable') {
    const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(bytes, 'latin1').toString('utf8');
  }
  return body;
}
