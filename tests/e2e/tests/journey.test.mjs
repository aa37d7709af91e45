// The citizen journey of the source document, steps 1–7, clicking and typing like a person,
// in a browser with JavaScript turned OFF (the pages must not need it). The verification
// code is turned off for this server through configuration only (DVC_CAPTCHA=off).
// Every page on the way is audited (axe, reflow, lang) and photographed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { server } from '../lib/server.mjs';
import { launch, newPage, andWait, focusedClass } from '../lib/browser.mjs';
import { audit, printView, writeSummary } from '../lib/audit.mjs';
import { AGENCY, AGENCY_NAME, PROC_NAME, pdfFile, mailContaining, daysAgoVn } from '../lib/data.mjs';

const BORN = daysAgoVn(10);

let srv;
let browser;
before(async () => {
  [srv, browser] = await Promise.all([server({ captcha: 'off' }), launch()]);
});
after(async () => {
  writeSummary('journey');
  await browser?.close();
  await srv?.stop();
});

/** Which element has the keyboard focus: "tag#id.class". */
const focused = (page) => page.evaluate(() => {
  const e = document.activeElement;
  return e ? `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}${e.className ? '.' + String(e.className).split(' ').join('.') : ''}` : '';
});

test('a citizen registers a birth online and follows the dossier (no JavaScript)', { timeout: 120_000 }, async () => {
  const page = await newPage(browser, { javaScript: false });
  const context = page.context();
  const scanned = pdfFile();

  // 1. Home page → "Các dịch vụ công có thể thực hiện trực tuyến".
  await page.goto(`${srv.url}/`);
  assert.equal(await page.getAttribute('html', 'lang'), 'vi');
  await audit(page, '01-trang-chu');
  await andWait(page, () => page.getByRole('link', { name: 'Các dịch vụ công có thể thực hiện trực tuyến' }).click());
  assert.match(page.url(), /\/thu-tuc\?truc_tuyen=1$/);
  await audit(page, '02-danh-sach-truc-tuyen');

  // Search without diacritics, as typed on a phone keyboard.
  await page.getByLabel('Tìm theo tên hoặc mã').fill('dang ky khai sinh');
  await andWait(page, () => page.getByRole('button', { name: 'Tìm kiếm' }).click());
  await audit(page, '03-danh-sach-tim-kiem');

  // 2. The procedure page.
  await andWait(page, () => page.getByRole('link', { name: PROC_NAME, exact: true }).click());
  await assert.doesNotReject(page.getByRole('heading', { level: 1, name: PROC_NAME }).waitFor());
  await audit(page, '04-thu-tuc');
  await andWait(page, () => page.getByRole('link', { name: 'Nộp hồ sơ trực tuyến' }).click());

  // 3. The declaration: one answer forgotten, one mistyped, the birth certificate attached.
  await audit(page, '05-to-khai');
  await page.getByLabel('Cơ quan giải quyết').selectOption({ label: AGENCY_NAME });
  await page.getByLabel('Họ, chữ đệm và tên', { exact: true }).fill('Nguyễn Thị Hoa');
  await page.getByLabel('Ngày, tháng, năm sinh', { exact: true }).fill('14/05/1992');
  await page.getByLabel('Số định danh cá nhân (số Căn cước, Căn cước công dân)').fill('031192004567');
  await page.getByLabel('Số điện thoại di động').fill('09123'); // too short
  await page.getByLabel('Thư điện tử (email)').fill('hoa.nguyen@example.vn');
  await page.getByLabel('Nơi cư trú', { exact: true }).fill('Số 12 phố Điện Biên Phủ, phường Hồng Bàng, Hải Phòng');
  // "Họ, chữ đệm và tên của trẻ" is forgotten.
  await page.getByRole('radio', { name: 'Không', exact: true }).check(); // no foreign element
  await page.getByRole('radio', { name: 'Nam', exact: true }).check();
  await page.getByLabel('Ngày, tháng, năm sinh của trẻ').fill(BORN);
  await page.getByLabel('Nơi sinh', { exact: true }).fill('Bệnh viện Phụ sản Hải Phòng');
  await page.getByLabel('Dân tộc', { exact: true }).fill('Kinh');
  await page.getByLabel('Quốc tịch', { exact: true }).selectOption({ label: 'Việt Nam' });
  await page.getByLabel('Quê quán của trẻ').fill('Xã Kiến Thụy, thành phố Hải Phòng');
  await page.getByLabel('Họ, chữ đệm và tên người mẹ').fill('Nguyễn Thị Hoa');
  await page.getByLabel('Số định danh cá nhân của người mẹ').fill('031192004567');
  await page.getByLabel('Ngày, tháng, năm sinh của người mẹ').fill('14/05/1992');
  await page.getByLabel('Dân tộc của người mẹ').fill('Kinh');
  await page.getByLabel('Quốc tịch của người mẹ').selectOption({ label: 'Việt Nam' });
  await page.getByLabel('Nơi cư trú của người mẹ').fill('Số 12 phố Điện Biên Phủ, phường Hồng Bàng, Hải Phòng');
  await page.getByLabel('Họ, chữ đệm và tên người cha').fill('Trần Văn Bình');
  await page.getByLabel('Số định danh cá nhân của người cha').fill('031090001234');
  await page.getByLabel('Quan hệ của người đi khai sinh với trẻ').selectOption({ label: 'Mẹ' });
  await page.getByLabel(/^Giấy chứng sinh/).setInputFiles(scanned);
  await page.getByLabel(/^Tôi cam đoan/).check();
  await andWait(page, () => page.getByRole('button', { name: 'Tiếp tục' }).click());

  // The error summary: in the title, focused, linked to each field; answers and the file kept.
  assert.match(await page.title(), /^Lỗi: /);
  assert.match(await focusedClass(page), /^error-summary/, 'focus moves to the error summary');
  const summary = page.locator('.error-summary');
  assert.match(await summary.locator('h2').innerText(), /Có 2 mục cần sửa/);
  assert.equal(await summary.locator('a').count(), 2);
  assert.equal(await page.getByLabel('Nơi cư trú', { exact: true }).inputValue(), 'Số 12 phố Điện Biên Phủ, phường Hồng Bàng, Hải Phòng');
  await assert.doesNotReject(page.getByText('Đã tải lên: giay-chung-sinh.pdf').waitFor(), 'the upload is kept');
  await audit(page, '06-to-khai-loi');
  // Each error message is read with its field.
  const phone = page.getByLabel('Số điện thoại di động');
  assert.match(await phone.getAttribute('aria-describedby'), /e-applicant_phone/);
  await summary.locator('a').first().click();
  assert.equal(await focused(page), 'input#f-applicant_phone.input.input-short', 'the summary link takes the person to the field');
  await phone.fill('0912 345 678');
  await summary.locator('a').nth(1).click();
  assert.match(await focused(page), /^input#f-tre_ho_ten/);
  await page.keyboard.type('Trần Minh An');
  await andWait(page, () => page.getByRole('button', { name: 'Tiếp tục' }).click());

  // 4. Review, then "Sửa" one answer.
  assert.match(page.url(), /\/nop-ho-so\/kiem-tra$/);
  const review = await page.locator('main').innerText();
  for (const shown of ['Trần Minh An', 'giay-chung-sinh.pdf', BORN, 'Nam', AGENCY_NAME, 'Bệnh viện Phụ sản Hải Phòng']) {
    assert.ok(review.includes(shown), `review shows ${shown}`);
  }
  await audit(page, '07-kiem-tra');
  await andWait(page, () => page.getByRole('link', { name: 'Sửa Nơi sinh', exact: true }).click());
  assert.match(page.url(), /\/nop-ho-so#f-tre_noi_sinh$/);
  const birthplace = page.getByLabel('Nơi sinh', { exact: true });
  assert.equal(await birthplace.inputValue(), 'Bệnh viện Phụ sản Hải Phòng');
  await birthplace.fill('Bệnh viện Trẻ em Hải Phòng');
  await andWait(page, () => page.getByRole('button', { name: 'Tiếp tục' }).click());
  assert.match(page.url(), /\/nop-ho-so\/kiem-tra$/);
  assert.ok((await page.locator('main').innerText()).includes('Bệnh viện Trẻ em Hải Phòng'), 'the corrected answer is shown');
  assert.equal(await page.locator('#captcha_answer').count(), 0, 'no verification code: DVC_CAPTCHA=off');

  // 5–6. "Gửi thông tin" → the confirmation with the dossier code.
  await andWait(page, () => page.getByRole('button', { name: 'Gửi thông tin' }).click());
  assert.match(page.url(), /\/ho-so\/[^/]+\/da-nop$/);
  const code = (await page.locator('.reference').innerText()).trim();
  assert.match(code, new RegExp(`^${AGENCY.replaceAll('.', '\\.')}-\\d{6}-\\d{4}$`));
  assert.match(await page.locator('main').innerText(), /Các bước tiếp theo/);
  await audit(page, '08-da-nop');
  await printView(page, '08-da-nop');
  // On the narrowest phone (320 px) the code wraps only at its hyphens, never inside a part.
  const viewport = page.viewportSize();
  for (const width of [320, 375]) {
    await page.setViewportSize({ width, height: 640 });
    // Lines a part spans: the distinct tops of its boxes (a part holds a box per dotted segment).
    const lines = await page.locator('.reference .code-part').evaluateAll((parts) => parts.map((p) => new Set([...p.getClientRects()].map((r) => Math.round(r.top))).size));
    assert.deepEqual(lines, [1, 1, 1], `each part of the code on one line at ${width} px`);
  }
  if (viewport) await page.setViewportSize(viewport);
  // Without JavaScript the copy button stays hidden and the code is one selectable text.
  assert.equal(await page.locator('button[data-copy]').isVisible(), false, 'no copy button without JavaScript');
  assert.equal(await page.locator('.reference strong').evaluate((el) => getComputedStyle(el).userSelect), 'all');

  // 7. The lookup, from the confirmation page and from the home page.
  await andWait(page, () => page.getByRole('link', { name: 'trang tra cứu hồ sơ' }).click());
  let status = await page.locator('main').innerText();
  assert.ok(status.includes(code), 'status page shows the code');
  assert.ok(!status.includes('Nguyễn Thị Hoa'), 'the public status page shows no full name');
  await audit(page, '09-tra-cuu-ket-qua');
  await printView(page, '09-tra-cuu-ket-qua');
  await andWait(page, () => page.getByRole('link', { name: 'Cổng Dịch vụ công' }).first().click());
  await page.getByLabel('Mã hồ sơ').fill(code);
  await andWait(page, () => page.getByRole('button', { name: 'Tra cứu' }).click());
  status = await page.locator('main').innerText();
  assert.ok(status.includes(code) && status.includes(PROC_NAME));

  // The e-mail (written to a file: no SMTP server) links to the private dossier page.
  if (srv.dataDir) {
    const mail = await mailContaining(srv.dataDir, code); // the e-mail carries the dossier code
    const link = mail.match(/https?:\/\/\S+\/ho-so\/xem\/[A-Za-z0-9_-]+/)[0];
    await page.goto(srv.url + new URL(link).pathname); // the server listens on port 0: use the path only
    const own = await page.locator('main').innerText();
    assert.ok(own.includes('Trần Minh An') && own.includes('giay-chung-sinh.pdf'));
    await audit(page, '10-ho-so-rieng');
    await printView(page, '10-ho-so-rieng');
  }
  await context.close();
});
