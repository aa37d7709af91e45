// Citizen sign-in in the browser, JavaScript off, through the real OpenID Connect provider's
// login and consent pages: "Hồ sơ của tôi", the declaration filled in from the identity with
// read-only level-2 fields, "Lưu nháp", and sign-out ending the provider's session too. The
// portal's pages on the way are audited (axe-core, reflow, text spacing).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { portalWithSignIn } from '../lib/oidc.mjs';
import { launch, newPage, andWait } from '../lib/browser.mjs';
import { audit, writeSummary } from '../lib/audit.mjs';
import { PROC } from '../lib/data.mjs';

let srv;
let browser;
before(async () => {
  [srv, browser] = await Promise.all([portalWithSignIn(), launch()]);
});
after(async () => {
  writeSummary('signin');
  await browser?.close();
  await srv?.stop();
});

/** At the provider: log in as `login` (any password), then consent. */
async function atProvider(page, login) {
  assert.ok(page.url().startsWith(srv.issuer), `at the provider: ${page.url()}`);
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('mat-khau-bat-ky');
  await andWait(page, () => page.locator('button[type="submit"]').first().click());
  if (page.url().startsWith(srv.issuer)) {
    await andWait(page, () => page.locator('button[type="submit"]').first().click());
  }
}

test('sign in, see Hồ sơ của tôi, file with details from the identity, save a draft, sign out', { timeout: 180_000 }, async () => {
  const page = await newPage(browser, { javaScript: false });
  await page.goto(`${srv.url}/ho-so-cua-toi`);
  await atProvider(page, 'an');
  assert.equal(page.url(), `${srv.url}/ho-so-cua-toi`);
  assert.match(await page.locator('main').innerText(), /Nguyễn Văn An/);
  await audit(page, 'ho-so-cua-toi');

  await page.goto(`${srv.url}/thu-tuc/${PROC}/nop-ho-so`);
  const name = page.locator('#f-applicant_full_name');
  assert.equal(await name.inputValue(), 'Nguyễn Văn An');
  assert.equal(await name.getAttribute('readonly'), '');
  assert.match(await page.locator('main').innerText(), /Lấy từ tài khoản định danh điện tử/);
  await audit(page, 'to-khai-da-dang-nhap');

  await page.locator('#f-tre_ho_ten').fill('Trần Minh Khôi');
  await andWait(page, () => page.getByRole('button', { name: 'Lưu nháp' }).click());
  assert.match(await page.locator('main').innerText(), /Đã lưu nháp/);
  await audit(page, 'to-khai-luu-nhap');
  await page.goto(`${srv.url}/ho-so-cua-toi`);
  assert.match(await page.locator('main').innerText(), /Tiếp tục khai hồ sơ/);

  await page.goto(`${srv.url}/dang-xuat`);
  await audit(page, 'dang-xuat');
  await andWait(page, () => page.getByRole('button', { name: 'Đăng xuất' }).click());
  assert.ok(page.url().startsWith(`${srv.issuer}/session/end`), page.url());
  // The provider asks to confirm ending its own session, then sends the citizen back.
  await andWait(page, () => page.locator('button[autofocus], button[type="submit"]').first().click());
  assert.equal(page.url(), `${srv.url}/`);
  // Signed out at both ends: Hồ sơ của tôi asks for the provider's login again.
  await page.goto(`${srv.url}/ho-so-cua-toi`);
  assert.ok(page.url().startsWith(srv.issuer), page.url());
  assert.equal(await page.locator('input[name="login"]').count(), 1);
  await page.context().close();
});

test('a refused sign-in is explained in Vietnamese', { timeout: 60_000 }, async () => {
  const page = await newPage(browser, { javaScript: false });
  const r = await page.goto(`${srv.url}/dang-nhap/xac-thuc?code=x&state=khong-hop-le`);
  assert.equal(r.status(), 400);
  assert.match(await page.locator('main').innerText(), /không khớp/);
  await audit(page, 'dang-nhap-loi');
  await page.context().close();
});
