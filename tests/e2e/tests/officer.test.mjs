// The officer's flow (issue 6): a citizen files a dossier; the reception officer logs in by
// typing (a wrong password first), receives it, asks for a supplement; the citizen supplements
// online from the e-mail link; reception forwards to the specialist, who submits it for
// approval; the leader approves; reception returns the result as a PDF; the citizen's status
// page says "Đã trả kết quả". Every back-office page and state on the way is audited (axe,
// reflow, lang), the supplement page and the admin page with their error states too.
// JavaScript is OFF in every browser context: the back office must not need it either.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { server } from '../lib/server.mjs';
import { launch, newPage, andWait, focusedClass } from '../lib/browser.mjs';
import { audit, writeSummary } from '../lib/audit.mjs';
import { submitDossier } from '../lib/http.mjs';
import { pdfFile, mailContaining } from '../lib/data.mjs';
import { STAFF, PASSWORD, ensureStaff } from '../lib/staff.mjs';

let srv;
let browser;
before(async () => {
  [srv, browser] = await Promise.all([server({ captcha: 'off' }), launch()]);
  ensureStaff(srv);
});
after(async () => {
  writeSummary('officer');
  await browser?.close();
  await srv?.stop();
});

// Other pages of the same templates: axe at phone width only, no screenshots (shorter run).
const bulk = { screenshots: false, axeWidths: [375] };

/** A fresh browser (own cookies) with the official logged in by typing. */
async function login(role) {
  const page = await newPage(browser, { javaScript: false });
  await page.goto(`${srv.url}/can-bo/dang-nhap`);
  await page.getByLabel('Thư điện tử công vụ').fill(STAFF[role].email);
  await page.getByLabel('Mật khẩu').fill(PASSWORD);
  await andWait(page, () => page.getByRole('button', { name: 'Đăng nhập' }).click());
  assert.match(page.url(), /\/can-bo(\?|$)/, `${role} logged in`);
  return page;
}

/** The <details> of one action on the dossier page. */
function action(page, label) {
  return page.locator('details.action').filter({ has: page.locator('summary', { hasText: new RegExp(`^\\s*${label}\\s*$`) }) });
}

/** Opens the action's <details> (a click on its summary, like a person). */
async function openAction(page, label) {
  const d = action(page, label);
  await d.waitFor();
  if (!(await d.evaluate((e) => e.open))) await d.locator('summary').click();
  return d;
}

/** Chooses the option of a <select> whose text contains `text`. */
async function chooseContaining(select, text) {
  const value = await select.evaluate((s, t) => [...s.options].find((o) => o.textContent.includes(t))?.value, text);
  assert.ok(value, `an option containing ${text}`);
  await select.selectOption(value);
}

async function submitAction(page, d) {
  await andWait(page, () => d.locator('button[type="submit"]').click());
}

const badge = (page) => page.locator('.status-badge').innerText();

test('an officer receives, supplements, forwards, approves and returns a dossier (no JavaScript)', { timeout: 150_000 }, async () => {
  const code = await submitDossier(srv.url);
  const detailUrl = `${srv.url}/can-bo/ho-so/${encodeURIComponent(code)}`;

  // Login: empty, then a wrong password (error summary focused, e-mail kept), then the right one.
  const rec = await newPage(browser, { javaScript: false });
  await rec.goto(`${srv.url}/can-bo/dang-nhap`);
  await audit(rec, 'cb-01-dang-nhap');
  await rec.getByLabel('Thư điện tử công vụ').fill(STAFF.reception.email);
  await rec.getByLabel('Mật khẩu').fill('mật khẩu sai hoàn toàn');
  await andWait(rec, () => rec.getByRole('button', { name: 'Đăng nhập' }).click());
  assert.match(await rec.title(), /^Lỗi: /);
  assert.match(await focusedClass(rec), /error-summary/, 'focus moves to the error summary');
  assert.equal(await rec.getByLabel('Thư điện tử công vụ').inputValue(), STAFF.reception.email);
  await audit(rec, 'cb-02-dang-nhap-loi');
  await rec.getByLabel('Mật khẩu').fill(PASSWORD);
  await andWait(rec, () => rec.getByRole('button', { name: 'Đăng nhập' }).click());

  // The queues: reception starts on "Chờ tiếp nhận", where the new dossier is.
  assert.match(rec.url(), /\/can-bo$/);
  assert.equal(await rec.locator('.tabs [aria-current="page"]').innerText(), 'Chờ tiếp nhận');
  assert.ok(await rec.getByRole('link', { name: code, exact: true }).isVisible(), 'the dossier is in "Chờ tiếp nhận"');
  await audit(rec, 'cb-03-hang-doi-cho-tiep-nhan');
  for (const slug of ['cua-toi', 'sap-den-han', 'qua-han', 'cho-bo-sung', 'tat-ca']) {
    await rec.goto(`${srv.url}/can-bo?hang-doi=${slug}`);
    assert.equal(await rec.locator('.tabs [aria-current="page"]').getAttribute('href'), `/can-bo?hang-doi=${slug}`, `the tab ${slug} is shown`);
    await audit(rec, `cb-hang-doi-${slug}`, bulk);
  }
  await rec.goto(`${srv.url}/can-bo?hang-doi=tat-ca&q=${encodeURIComponent('không có hồ sơ này')}`);
  assert.match(await rec.locator('main').innerText(), /Không có hồ sơ nào/);
  await audit(rec, 'cb-04-hang-doi-trong', bulk);
  await rec.goto(`${srv.url}/can-bo?hang-doi=cho-tiep-nhan`);

  // The dossier, submitted → "Tiếp nhận".
  await andWait(rec, () => rec.getByRole('link', { name: code, exact: true }).click());
  assert.equal(await badge(rec), 'Đã nộp trực tuyến, chờ tiếp nhận');
  await audit(rec, 'cb-05-ho-so-da-nop');
  await submitAction(rec, await openAction(rec, 'Tiếp nhận'));
  assert.equal(await badge(rec), 'Đã tiếp nhận');
  assert.match(await rec.locator('.notice').innerText(), /Đã thực hiện thao tác/);
  await audit(rec, 'cb-06-ho-so-da-tiep-nhan', bulk);

  // A refused action shows the error page: forwarding without choosing a recipient.
  const forward = await openAction(rec, 'Chuyển xử lý');
  await andWait(rec, () => forward.locator('button[type="submit"]').click());
  assert.match(await rec.locator('main').innerText(), /Chọn người nhận/);
  await audit(rec, 'cb-07-thao-tac-loi', bulk);
  await rec.goto(detailUrl);

  // "Yêu cầu bổ sung": tick a document, type the reason.
  const ask = await openAction(rec, 'Yêu cầu bổ sung');
  await ask.getByRole('checkbox').first().check();
  await ask.getByLabel('Lý do').fill('Bản quét giấy chứng sinh bị mờ, không đọc được số giấy.');
  await submitAction(rec, ask);
  assert.equal(await badge(rec), 'Chờ công dân bổ sung hồ sơ');
  await audit(rec, 'cb-08-ho-so-cho-bo-sung');
  await rec.goto(`${srv.url}/can-bo?hang-doi=cho-bo-sung`);
  assert.ok(await rec.getByRole('link', { name: code, exact: true }).isVisible(), 'the dossier is in "Chờ bổ sung"');

  // The citizen: the e-mail link → the private page → "Bổ sung hồ sơ trực tuyến".
  const citizen = await newPage(browser, { javaScript: false });
  assert.ok(srv.dataDir, 'DVC_E2E_DATA_DIR: the e-mails are read from the data dir');
  const mail = await mailContaining(srv.dataDir, [code, 'cần được bổ sung']);
  const link = mail.match(/https?:\/\/\S+\/ho-so\/xem\/[A-Za-z0-9_-]+/)[0];
  await citizen.goto(srv.url + new URL(link).pathname);
  await andWait(citizen, () => citizen.getByRole('link', { name: 'Bổ sung hồ sơ trực tuyến' }).click());
  assert.match(citizen.url(), /\/bo-sung$/);
  assert.match(await citizen.locator('main').innerText(), /bị mờ/, 'the reason is shown');
  await audit(citizen, 'cb-09-bo-sung');
  await andWait(citizen, () => citizen.getByRole('button', { name: 'Gửi bổ sung' }).click());
  assert.match(await citizen.title(), /^Lỗi: /);
  assert.match(await focusedClass(citizen), /error-summary/);
  await audit(citizen, 'cb-10-bo-sung-loi');
  await citizen.locator('input[type="file"]').first().setInputFiles(pdfFile('giay-chung-sinh-ro.pdf'));
  await citizen.getByLabel('Ghi chú cho cán bộ (không bắt buộc)').fill('Đã quét lại bản rõ hơn.');
  await andWait(citizen, () => citizen.getByRole('button', { name: 'Gửi bổ sung' }).click());
  assert.doesNotMatch(citizen.url(), /\/bo-sung$/, 'the supplement is accepted');

  // Reception forwards to the specialist.
  await rec.goto(detailUrl);
  assert.ok((await rec.locator('main').innerText()).includes('giay-chung-sinh-ro.pdf'), 'the supplemented file is listed');
  const fwd = await openAction(rec, 'Chuyển xử lý');
  await chooseContaining(fwd.getByLabel('Người nhận'), STAFF.specialist.name);
  await submitAction(rec, fwd);
  assert.equal(await badge(rec), 'Đang xử lý');
  await audit(rec, 'cb-11-ho-so-dang-xu-ly', bulk);

  // The specialist: "Hồ sơ của tôi" → "Trình phê duyệt" to the leader.
  const spec = await login('specialist');
  assert.ok(await spec.getByRole('link', { name: code, exact: true }).isVisible(), 'the dossier is in the specialist\'s queue');
  await audit(spec, 'cb-12-hang-doi-cua-toi', bulk);
  await andWait(spec, () => spec.getByRole('link', { name: code, exact: true }).click());
  const submit = await openAction(spec, 'Trình phê duyệt');
  await chooseContaining(submit.getByLabel('Người nhận'), STAFF.leader.name);
  await submitAction(spec, submit);
  assert.equal(await badge(spec), 'Chờ lãnh đạo phê duyệt');
  await audit(spec, 'cb-13-ho-so-cho-phe-duyet', bulk);

  // The leader approves.
  const lead = await login('leader');
  await lead.goto(detailUrl);
  await submitAction(lead, await openAction(lead, 'Phê duyệt'));
  assert.equal(await badge(lead), 'Đã có kết quả, chờ trả');
  await audit(lead, 'cb-14-ho-so-co-ket-qua', bulk);

  // Reception returns the result with its PDF.
  await rec.goto(detailUrl);
  const ret = await openAction(rec, 'Trả kết quả');
  await ret.getByLabel(/^Bản điện tử của kết quả/).setInputFiles(pdfFile('trich-luc-khai-sinh.pdf'));
  await submitAction(rec, ret);
  assert.equal(await badge(rec), 'Đã trả kết quả');
  assert.equal(await rec.locator(`a[href="/can-bo/ho-so/${code}/ket-qua"]`).count(), 1, 'the result is linked');
  await audit(rec, 'cb-15-ho-so-da-tra-ket-qua');

  // The leader's dashboard: the figures of the unit, the dossier counted as returned.
  await lead.goto(`${srv.url}/can-bo/thong-ke`);
  assert.match(await lead.locator('main').innerText(), /Chỉ số đánh giá theo QĐ 766/);
  await audit(lead, 'cb-16-thong-ke', bulk);

  // The citizen's status page.
  await citizen.goto(`${srv.url}/tra-cuu?ma=${encodeURIComponent(code)}`);
  assert.match(await citizen.locator('main').innerText(), /Đã trả kết quả/);

  for (const p of [rec, spec, lead, citizen]) await p.context().close();
});

test('the admin page, and its error state (the create form sent empty)', { timeout: 60_000 }, async () => {
  const admin = await login('admin');
  await admin.goto(`${srv.url}/can-bo/quan-tri/can-bo`);
  assert.ok((await admin.locator('main').innerText()).includes(STAFF.reception.email), 'the accounts are listed');
  await audit(admin, 'cb-20-quan-tri');
  await andWait(admin, () => admin.getByRole('button', { name: 'Tạo tài khoản' }).click());
  assert.match(await admin.title(), /^Lỗi: /);
  assert.match(await focusedClass(admin), /error-summary/);
  await audit(admin, 'cb-21-quan-tri-loi');
  await admin.context().close();
});
