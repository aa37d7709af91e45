// Conditional fields and repeating groups (issue 22 item 4) on "Đăng ký nhận cha, mẹ, con", with
// JavaScript (static/form.js: instant) and without (Cập nhật / Thêm reload the page); and the
// procedure editor's pages (issue 22 item 3), audited with axe like every other page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { server } from '../lib/server.mjs';
import { launch, newPage, andWait } from '../lib/browser.mjs';
import { audit, writeSummary } from '../lib/audit.mjs';
import { STAFF, PASSWORD, ensureStaff } from '../lib/staff.mjs';

const NHAN = '1.001022';
let srv;
let browser;
before(async () => {
  [srv, browser] = await Promise.all([server({ captcha: 'off' }), launch()]);
  ensureStaff(srv);
});
after(async () => {
  writeSummary('forms');
  await browser?.close();
  await srv?.stop();
});

const other = (page) => page.locator('#wrap-duoc_nhan_quoc_tich_khac');
const witnesses = (page) => page.locator('#nhom-nguoi_lam_chung');

test('with JavaScript, conditional parts and new items appear at once', { timeout: 60_000 }, async () => {
  const page = await newPage(browser, { javaScript: true });
  await page.goto(`${srv.url}/thu-tuc/${NHAN}/nop-ho-so`);
  assert.equal(await other(page).isVisible(), false);
  assert.equal(await witnesses(page).isVisible(), false);
  // The no-JavaScript buttons are hidden by the script.
  assert.equal(await page.getByRole('button', { name: /^Cập nhật/ }).first().isVisible(), false);
  const url = page.url();
  await page.locator('#f-duoc_nhan_quoc_tich').selectOption('khac');
  await other(page).waitFor({ state: 'visible' });
  await page.locator('#f-loai_chung_cu').selectOption('chung_cu_khac');
  await witnesses(page).waitFor({ state: 'visible' });
  assert.equal(await page.locator('#nhom-nguoi_lam_chung .repeat-item').count(), 2);
  await page.getByRole('button', { name: 'Thêm người làm chứng' }).click();
  await page.locator('#muc-nguoi_lam_chung-3').waitFor({ state: 'visible' });
  assert.equal(page.url(), url, 'no reload');
  assert.equal(await page.locator('input[name="nguoi_lam_chung"]').inputValue(), '3');
  // The new item's first box has the focus.
  assert.equal(await page.evaluate(() => document.activeElement?.name), 'lam_chung_ho_ten.3');
  await audit(page, 'tk-01-dieu-kien-js');
  // Back to "Việt Nam": hidden again.
  await page.locator('#f-duoc_nhan_quoc_tich').selectOption('viet_nam');
  await other(page).waitFor({ state: 'hidden' });
});

test('without JavaScript, Cập nhật and Thêm reload the page with what was typed', { timeout: 60_000 }, async () => {
  const page = await newPage(browser, { javaScript: false });
  await page.goto(`${srv.url}/thu-tuc/${NHAN}/nop-ho-so`);
  assert.equal(await other(page).isVisible(), false);
  await page.getByLabel('Họ, chữ đệm và tên người được nhận').fill('Trần Minh An');
  await page.locator('#f-duoc_nhan_quoc_tich').selectOption('khac');
  // Nothing changes until the page is sent.
  assert.equal(await other(page).isVisible(), false);
  await andWait(page, () => page.locator('#wrap-duoc_nhan_quoc_tich ~ button[value="cap-nhat"]').first().click());
  assert.equal(await other(page).isVisible(), true);
  assert.equal(await page.locator('.error-summary').count(), 0, 'Cập nhật reports no error');
  assert.equal(await page.getByLabel('Họ, chữ đệm và tên người được nhận').inputValue(), 'Trần Minh An');
  await page.locator('#f-loai_chung_cu').selectOption('chung_cu_khac');
  await andWait(page, () => page.locator('#wrap-loai_chung_cu ~ button[value="cap-nhat"]').first().click());
  assert.equal(await witnesses(page).isVisible(), true);
  await page.locator('#f-lam_chung_ho_ten\\.1').fill('Lê Văn Cường');
  await andWait(page, () => page.getByRole('button', { name: 'Thêm người làm chứng' }).click());
  assert.match(page.url(), /#muc-nguoi_lam_chung-3$/);
  assert.equal(await page.locator('#muc-nguoi_lam_chung-3').isVisible(), true);
  assert.equal(await page.locator('#f-lam_chung_ho_ten\\.1').inputValue(), 'Lê Văn Cường');
  await audit(page, 'tk-02-dieu-kien-khong-js');
  // Tiếp tục with the new items empty: errors name the item.
  await andWait(page, () => page.getByRole('button', { name: 'Tiếp tục', exact: true }).last().click());
  assert.match(await page.locator('.error-summary').innerText(), /Người làm chứng thứ 2: Nhập họ/);
  await audit(page, 'tk-03-dieu-kien-loi', { screenshots: false, axeWidths: [375] });
});

test('the procedure editor pages pass axe (no JavaScript)', { timeout: 90_000 }, async () => {
  const page = await newPage(browser, { javaScript: false });
  await page.goto(`${srv.url}/can-bo/dang-nhap`);
  await page.getByLabel('Thư điện tử công vụ').fill(STAFF.admin.email);
  await page.getByLabel('Mật khẩu').fill(PASSWORD);
  await andWait(page, () => page.getByRole('button', { name: 'Đăng nhập' }).click());
  const bulk = { screenshots: false, axeWidths: [375, 1280] };
  await page.goto(`${srv.url}/can-bo/quan-tri/thu-tuc`);
  await audit(page, 'qt-01-thu-tuc', bulk);
  await page.goto(`${srv.url}/can-bo/quan-tri/thu-tuc/${NHAN}/sua`);
  await audit(page, 'qt-02-sua', bulk);
  // An error in the form box: the summary links to it, the message names the line.
  const box = page.locator('#f-form');
  await box.fill(`${await box.inputValue()}\n[[sections]]\ntitle = 3\n`);
  await andWait(page, () => page.getByRole('button', { name: 'Lưu bản nháp' }).click());
  assert.match(await page.locator('.error-summary').innerText(), /Dòng \d+/);
  await audit(page, 'qt-03-sua-loi', bulk);
  await page.goto(`${srv.url}/can-bo/quan-tri/thu-tuc/${NHAN}/sua`);
  await page.getByLabel('Tên thủ tục').fill('Đăng ký nhận cha, mẹ, con (bản thử)');
  await andWait(page, () => page.getByRole('button', { name: 'Lưu bản nháp' }).click());
  await audit(page, 'qt-04-thu-tuc-ban-nhap', bulk);
  await page.goto(`${srv.url}/can-bo/quan-tri/thu-tuc/${NHAN}/phien-ban/1`);
  await audit(page, 'qt-05-phien-ban', bulk);
  await page.goto(`${srv.url}/can-bo/quan-tri/thu-tuc/moi`);
  await audit(page, 'qt-06-moi', bulk);
});
