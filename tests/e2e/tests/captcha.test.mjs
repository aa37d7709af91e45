// The verification-code step as it runs in production (DVC_CAPTCHA=image): the image with its
// text alternative, a wrong code (error state), then the code read from the spelled-out
// alternative — the way a blind person completes it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { server } from '../lib/server.mjs';
import { launch, newPage, andWait, focusedClass } from '../lib/browser.mjs';
import { audit, writeSummary } from '../lib/audit.mjs';
import { ANSWERS, PROC, pdfFile } from '../lib/data.mjs';

const WORDS = ['không', 'một', 'hai', 'ba', 'bốn', 'năm', 'sáu', 'bảy', 'tám', 'chín'];

let srv;
let browser;
before(async () => {
  [srv, browser] = await Promise.all([server({ captcha: 'image' }), launch()]);
});
after(async () => {
  writeSummary('captcha');
  await browser?.close();
  await srv?.stop();
});

test('verification code: image, text alternative, wrong code, then sent', { timeout: 120_000 }, async () => {
  const page = await newPage(browser);
  await page.goto(`${srv.url}/thu-tuc/${PROC}/nop-ho-so`);
  for (const [name, value] of ANSWERS) {
    const field = page.locator(`[name="${name}"]`);
    const type = await field.first().getAttribute('type');
    if (type === 'radio') await page.locator(`[name="${name}"][value="${value}"]`).check();
    else if (type === 'checkbox') await field.check();
    else if (await field.evaluate((e) => e.tagName === 'SELECT')) await field.selectOption(value);
    else await field.fill(value);
  }
  await page.locator('[name="tep_giay_chung_sinh"]').setInputFiles(pdfFile());
  await andWait(page, () => page.getByRole('button', { name: 'Tiếp tục' }).click());
  assert.match(page.url(), /\/kiem-tra$/);

  // The image, with an alternative for people who cannot see it.
  const img = page.locator('img.captcha');
  assert.match(await img.getAttribute('alt'), /mã xác nhận/i);
  assert.ok(await img.evaluate((i) => i.complete && i.naturalWidth > 0), 'the image loads');
  await audit(page, '11-kiem-tra-ma-anh');

  // A wrong code: the error summary takes the focus and links to the field.
  await page.getByLabel('Mã xác nhận').fill('12');
  await andWait(page, () => page.getByRole('button', { name: 'Gửi thông tin' }).click());
  assert.match(await page.title(), /^Lỗi: /);
  assert.match(await focusedClass(page), /error-summary/);
  await audit(page, '12-kiem-tra-ma-sai');
  await page.locator('.error-summary a').click();
  assert.equal(await page.evaluate(() => document.activeElement.id), 'captcha_answer');

  // The text alternative: digits spelled out in Vietnamese.
  await andWait(page, () => page.getByRole('link', { name: /Dùng mã xác nhận dạng chữ/ }).click());
  await audit(page, '13-kiem-tra-ma-chu');
  const spelled = await page.locator('#captcha-hint strong').innerText();
  const digits = spelled.split(',').map((w) => WORDS.indexOf(w.trim().replace(/\.$/, ''))).join('');
  assert.match(digits, /^\d{6}$/, `read "${spelled}" as ${digits}`);
  await page.getByLabel('Mã xác nhận').fill(digits);
  await andWait(page, () => page.getByRole('button', { name: 'Gửi thông tin' }).click());
  assert.match(page.url(), /\/da-nop$/, 'sent with the code read from words');
  // With JavaScript on, the dossier code is copied in one tap.
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(srv.url).origin });
  const code = (await page.locator('.reference').innerText()).trim();
  const copy = page.getByRole('button', { name: 'Sao chép mã hồ sơ' });
  assert.ok(await copy.isVisible(), 'the copy button appears with JavaScript');
  await copy.click();
  await page.getByText('Đã sao chép mã hồ sơ.').waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), code);
  await page.context().close();
});
