// Accessibility of every citizen page template not already on the journey, in every state:
// lists (with and without results), every procedure page, every online declaration form empty
// and with every field in error, the printable blank forms, the lookup (empty, malformed code,
// unknown code) and the error page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { server, largeCatalogueServer } from '../lib/server.mjs';
import { launch, newPage, andWait, focusedClass } from '../lib/browser.mjs';
import { audit, audited, printView, writeSummary } from '../lib/audit.mjs';
import { PROC } from '../lib/data.mjs';

let srv;
let browser;
let page;
before(async () => {
  [srv, browser] = await Promise.all([server({ captcha: 'off' }), launch()]);
  page = await newPage(browser);
});
after(async () => {
  writeSummary('pages');
  await browser?.close();
  await srv?.stop();
});

test('lists, search with no result, blank form, lookup states, error page', { timeout: 120_000 }, async () => {
  for (const [name, url] of [
    ['danh-sach-tat-ca', '/thu-tuc'],
    ['danh-sach-loc', `/thu-tuc?co_quan=000.00.02.H31&muc_do=4&hinh_thuc=toan_trinh&truc_tuyen=1`],
    ['danh-sach-khong-ket-qua', '/thu-tuc?q=kh%C3%B4ng+c%C3%B3+th%E1%BB%A7+t%E1%BB%A5c+n%C3%A0y'],
    ['mau-to-khai', `/thu-tuc/${PROC}/mau-to-khai`],
    ['thong-ke', '/thong-ke'],
    ['thong-ke-don-vi-thang', '/thong-ke?co_quan=000.01.00.H31&ky=thang-1'],
    ['thong-ke-khoang-ngay', '/thong-ke?tu=2026-01-01&den=2026-03-31'],
    ['thong-ke-loi', '/thong-ke?ky=thang-13'],
    ['tra-cuu', '/tra-cuu'],
  ]) {
    await page.goto(srv.url + url);
    await audit(page, name);
    if (name === 'mau-to-khai') await printView(page, name);
  }
  // A malformed code, typed by a person: error summary focused, message tied to the field.
  await page.getByLabel('Mã hồ sơ').fill('abc');
  await andWait(page, () => page.getByRole('button', { name: 'Tra cứu' }).click());
  assert.match(await page.title(), /^Lỗi: /);
  assert.match(await focusedClass(page), /error-summary/);
  await audit(page, 'tra-cuu-loi');
  await page.getByLabel('Mã hồ sơ').fill('000.00.02.H31-260101-9999');
  await andWait(page, () => page.getByRole('button', { name: 'Tra cứu' }).click());
  await audit(page, 'tra-cuu-khong-thay');
  const r = await page.goto(`${srv.url}/khong-co-trang-nay`);
  assert.equal(r.status(), 404);
  await audit(page, 'loi-404');
});

test('a catalogue of several pages: the pagination, followed like a person, with the filters kept', { timeout: 120_000 }, async () => {
  const big = await largeCatalogueServer(65);
  try {
    await page.goto(`${big.url}/thu-tuc?truc_tuyen=1`);
    const nav = page.getByRole('navigation', { name: 'Phân trang' });
    await assert.doesNotReject(nav.waitFor());
    assert.match(await nav.innerText(), /Trang 1 \/ \d+/);
    await audit(page, 'danh-sach-trang-1');
    await andWait(page, () => nav.getByRole('link', { name: 'Trang sau' }).click());
    assert.match(page.url(), /\/thu-tuc\?truc_tuyen=1&trang=2$/);
    await audit(page, 'danh-sach-trang-2');
    await andWait(page, () => page.getByRole('navigation', { name: 'Phân trang' }).getByRole('link', { name: 'Trang cuối' }).click());
    const last = await page.getByRole('navigation', { name: 'Phân trang' }).innerText();
    assert.doesNotMatch(last, /Trang sau|Trang cuối/);
    assert.match(last, /Trang đầu/);
    // A search over several pages keeps its words in the links.
    await page.getByLabel('Tìm theo tên hoặc mã').fill('ban sao');
    await andWait(page, () => page.getByRole('button', { name: 'Tìm kiếm' }).click());
    await andWait(page, () => page.getByRole('navigation', { name: 'Phân trang' }).getByRole('link', { name: 'Trang sau' }).click());
    assert.match(page.url(), /q=ban%20sao&truc_tuyen=1&trang=2$/);
    await audit(page, 'danh-sach-tim-kiem-trang-2');
  } finally {
    await big.stop();
  }
});

// The same templates as on the journey with other content and field types: axe at phone width
// only (the journey audits both widths), to keep the run short.
const bulk = { screenshots: false, axeWidths: [375] };

test('every procedure page, declaration (empty and all in error) and blank form', { timeout: 120_000 }, async () => {
  await page.goto(`${srv.url}/thu-tuc`);
  const codes = [...new Set(await page.locator('.procedure-list :is(h2, h3) a').evaluateAll((as) => as.map((a) => a.getAttribute('href').split('/')[2])))];
  assert.ok(codes.length >= 5, `procedures: ${codes.length}`);
  let forms = 0;
  for (const code of codes) {
    await page.goto(`${srv.url}/thu-tuc/${code}`);
    if (code !== PROC) await audit(page, `thu-tuc-${code}`, bulk); // PROC: on the journey
    const blank = page.getByRole('link', { name: 'Xem và in mẫu tờ khai để điền tay' });
    if (await blank.count()) {
      await andWait(page, () => blank.click());
      if (code !== PROC) await audit(page, `mau-to-khai-${code}`, bulk); // PROC: above
      await page.goBack();
    }
    const start = page.locator('a.button-start', { hasText: 'Nộp hồ sơ trực tuyến' });
    if (!(await start.count())) continue;
    forms++;
    await andWait(page, () => start.click());
    if (code !== PROC) await audit(page, `to-khai-${code}`, bulk); // PROC: on the journey
    await andWait(page, () => page.getByRole('button', { name: 'Tiếp tục' }).click());
    assert.match(await page.title(), /^Lỗi: /, `${code}: an empty declaration is refused`);
    assert.match(await focusedClass(page), /error-summary/);
    await audit(page, `to-khai-loi-tat-ca-${code}`, code === PROC ? {} : bulk);
  }
  assert.ok(forms >= 3, `online declarations audited: ${forms}`);
});

test('the audit fails on an accessibility violation (self-check)', { timeout: 60_000 }, async () => {
  await page.goto(`${srv.url}/`);
  // Break the page the way a careless change would: a field loses its label, text loses
  // contrast, text is put on a gradient where contrast cannot be measured.
  await page.evaluate(() => {
    document.querySelector('label[for="q"]').remove();
    document.querySelector('.lead').style.color = '#aaaaaa';
    document.querySelector('.site-footer p').style.backgroundImage = 'linear-gradient(#fff, #777)';
  });
  await assert.rejects(audit(page, 'zz-tu-kiem-tra', { screenshots: false, quiet: true }), (e) =>
    /\[label\]/.test(e.message) && /\[color-contrast\]/.test(e.message) && /\[color-contrast-undecided\]/.test(e.message));
  audited.pop();
});
