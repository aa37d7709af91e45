// Page weight: the critical path of every citizen page (and of the back-office pages) — HTML + render-blocking CSS + fonts +
// blocking scripts — as transferred with `Accept-Encoding: br, gzip`, cold cache, must stay
// within 65 KB. Also: br/gzip compression, no script but a deferred enhancement, fingerprinted static assets with
// long immutable cache headers, HTML never cached as immutable.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { server } from '../lib/server.mjs';
import { Client, hidden, submitDossier } from '../lib/http.mjs';
import { ANSWERS, PROC, pdf, mailContaining } from '../lib/data.mjs';
import { OUTPUT } from '../lib/audit.mjs';
import { STAFF, PASSWORD, ensureStaff } from '../lib/staff.mjs';

export const BUDGET_BYTES = 65 * 1000; // 65 KB, compressed, HTML + CSS + fonts + blocking scripts

let off;
let captcha;
const rows = [];

before(async () => {
  [off, captcha] = await Promise.all([server({ captcha: 'off' }), server({ captcha: 'image' })]);
});
after(async () => {
  await Promise.all([off?.stop(), captcha?.stop()]);
  fs.mkdirSync(OUTPUT, { recursive: true });
  fs.writeFileSync(path.join(OUTPUT, 'weights.json'), JSON.stringify({ budgetBytes: BUDGET_BYTES, pages: rows }, null, 2));
});

const assetCache = new Map();
async function asset(client, url) {
  if (!assetCache.has(url)) assetCache.set(url, await client.get(url, { headers: { accept: '*/*' } }));
  return assetCache.get(url);
}

/** Everything the browser must fetch before it can render the page. */
function criticalResources(html) {
  const out = [];
  const scripts = [...html.matchAll(/<script\b([^>]*)>/gi)];
  for (const m of html.matchAll(/<link\b([^>]*)>/gi)) {
    const attrs = m[1];
    if (!/rel="?stylesheet"?/i.test(attrs)) continue;
    const media = (attrs.match(/media="([^"]*)"/i) || [])[1];
    if (media && /^\s*print\s*$/i.test(media)) continue; // not render-blocking
    out.push({ kind: 'css', url: attrs.match(/href="([^"]+)"/i)[1] });
  }
  for (const m of scripts) {
    const src = (m[1].match(/src="([^"]+)"/i) || [])[1];
    if (src && !/\b(async|defer)\b|type="module"/i.test(m[1])) out.push({ kind: 'script', url: src });
  }
  // Only a deferred, same-origin enhancement may be there (the copy button of the dossier code).
  const blocking = scripts.filter((m) => !/\bsrc="\/static\/[^"]+"/i.test(m[1]) || !/\bdefer\b/i.test(m[1]));
  return { resources: out, scripts: blocking.length };
}

/** Weighs a response already fetched: the HTML plus its critical resources. */
async function weigh(t, client, name, res, { expectStatus = 200 } = {}) {
  assert.equal(res.status, expectStatus, `${name}: HTTP ${res.status}\n${res.text.slice(0, 500)}`);
  assert.match(res.headers['content-type'] || '', /^text\/html/, name);
  assert.equal(res.headers['content-encoding'], 'br', `${name}: HTML must be sent compressed (br when offered)`);
  assert.doesNotMatch(res.headers['cache-control'] || '', /immutable|max-age=[1-9]/, `${name}: HTML must not be cached for long`);
  const { resources, scripts } = criticalResources(res.text);
  assert.equal(scripts, 0, `${name}: an inline or blocking <script> element; no citizen page needs JavaScript`);
  let total = res.wireBytes + res.headerBytes;
  const parts = [`html ${res.wireBytes}+${res.headerBytes}h`];
  const seen = new Set();
  const queue = [...resources];
  while (queue.length) {
    const r = queue.shift();
    if (seen.has(r.url)) continue;
    seen.add(r.url);
    const a = await asset(client, r.url);
    assert.equal(a.status, 200, `${name}: ${r.url} → ${a.status}`);
    total += a.wireBytes + a.headerBytes;
    parts.push(`${r.kind} ${path.basename(r.url)} ${a.wireBytes}+${a.headerBytes}h`);
    if (r.kind === 'css') {
      // Fonts and imported stylesheets are on the critical path too.
      for (const m of a.text.matchAll(/@import\s+(?:url\()?["']?([^"')\s;]+)/g)) queue.push({ kind: 'css', url: new URL(m[1], new URL(r.url, client.base)).pathname });
      for (const m of a.text.matchAll(/url\(\s*["']?([^"')]+\.(?:woff2?|ttf|otf))["']?\s*\)/g)) queue.push({ kind: 'font', url: new URL(m[1], new URL(r.url, client.base)).pathname });
    }
  }
  rows.push({ page: name, status: res.status, htmlBytes: res.wireBytes, htmlUncompressed: res.body.length, criticalBytes: total, parts });
  t.diagnostic(`${name}: ${(total / 1000).toFixed(1)} KB critical path (${parts.join(', ')}; HTML uncompressed ${(res.body.length / 1000).toFixed(1)} KB)`);
  assert.ok(total <= BUDGET_BYTES, `${name}: critical path ${total} B > budget ${BUDGET_BYTES} B (${parts.join(', ')})`);
}

test('static assets: fingerprinted names, immutable year-long cache, br and gzip', { timeout: 120_000 }, async () => {
  const c = new Client(off.url);
  const home = await c.get('/');
  const links = [...home.text.matchAll(/<link\b[^>]*href="(\/static\/[^"]+)"/g)].map((m) => m[1]);
  assert.ok(links.length >= 2, 'app.css and print.css are linked');
  for (const url of links) {
    assert.match(url, /^\/static\/[a-z]+\.[0-9a-f]{10}\.css$/, `${url} has a content hash in its name`);
    const r = await c.get(url, { headers: { accept: 'text/css' } });
    assert.equal(r.status, 200);
    assert.match(r.headers['cache-control'], /max-age=31536000/);
    assert.match(r.headers['cache-control'], /immutable/);
    assert.equal(r.headers['content-encoding'], 'br', `${url} sent with br`);
    const g = await new Client(off.url, { acceptEncoding: 'gzip' }).get(url);
    assert.equal(g.headers['content-encoding'], 'gzip', `${url} sent with gzip when br is not offered`);
    assert.ok(g.body.equals(r.body), 'same bytes after decoding');
  }
  assert.match(home.text, /<link rel="stylesheet" href="\/static\/print\.[0-9a-f]{10}\.css" media="print">/, 'print stylesheet linked with media="print"');
  const stale = await c.get('/static/app.0000000000.css');
  assert.equal(stale.status, 404, 'an unknown fingerprint is not served');
});

test('public pages are within the budget', { timeout: 120_000 }, async (t) => {
  const c = new Client(off.url);
  const pages = [
    ['trang-chu', '/'],
    ['danh-sach-truc-tuyen', '/thu-tuc?truc_tuyen=1'],
    ['danh-sach-tat-ca', '/thu-tuc'],
    ['danh-sach-khong-ket-qua', '/thu-tuc?q=khong+co+thu+tuc+nao'],
    ['thu-tuc', `/thu-tuc/${PROC}`],
    ['mau-to-khai', `/thu-tuc/${PROC}/mau-to-khai`],
    ['tra-cuu', '/tra-cuu'],
    ['tra-cuu-loi-ma', '/tra-cuu?ma=abc', 400],
    ['tra-cuu-khong-thay', '/tra-cuu?ma=000.00.02.H31-260101-9999', 404],
    ['thong-ke', '/thong-ke'],
    ['thong-ke-loi', '/thong-ke?ky=thang-13', 400],
  ];
  for (const [name, url, expectStatus = 200] of pages) await weigh(t, c, name, await c.get(url), { expectStatus });
  // Every procedure page (the longest one sets the bar).
  const list = await c.get('/thu-tuc');
  const codes = [...new Set([...list.text.matchAll(/href="\/thu-tuc\/(\d\.\d{6})"/g)].map((m) => m[1]))];
  assert.ok(codes.length >= 5, `procedures listed: ${codes.length}`);
  for (const code of codes) if (code !== PROC) await weigh(t, c, `thu-tuc-${code}`, await c.get(`/thu-tuc/${code}`));
  await weigh(t, c, 'loi-404', await c.get('/khong-co-trang-nay'), { expectStatus: 404 });
});

test('the journey pages, error states included, are within the budget', { timeout: 120_000 }, async (t) => {
  const c = new Client(off.url);
  const form = await c.get(`/thu-tuc/${PROC}/nop-ho-so`);
  await weigh(t, c, 'to-khai', form);
  const csrf = hidden(form.text, 'csrf');
  assert.ok(csrf, 'csrf token');
  // Nothing filled in: every field in error — the heaviest declaration page.
  await weigh(t, c, 'to-khai-loi', await c.postMultipart(`/thu-tuc/${PROC}/nop-ho-so`, [['csrf', csrf]]), { expectStatus: 422 });
  const ok = await c.postMultipart(`/thu-tuc/${PROC}/nop-ho-so`, [['csrf', csrf], ...ANSWERS, ['tep_giay_chung_sinh', { filename: 'giay-chung-sinh.pdf', type: 'application/pdf', data: pdf() }]]);
  assert.equal(ok.status, 303, ok.text.slice(0, 300));
  await weigh(t, c, 'to-khai-da-tai-tep', await c.get(`/thu-tuc/${PROC}/nop-ho-so`));
  const review = await c.get(`/thu-tuc/${PROC}/nop-ho-so/kiem-tra`);
  await weigh(t, c, 'kiem-tra', review);
  const sent = await c.postForm(`/thu-tuc/${PROC}/nop-ho-so/gui`, { csrf: hidden(review.text, 'csrf'), submit_token: hidden(review.text, 'submit_token') });
  assert.equal(sent.status, 303);
  await weigh(t, c, 'da-nop', await c.get(sent.location));
  const code = sent.location.split('/')[2];
  await weigh(t, c, 'tra-cuu-ket-qua', await c.get(`/tra-cuu?ma=${encodeURIComponent(code)}`));
  if (off.dataDir) {
    const mail = await mailContaining(off.dataDir, code);
    const link = mail.match(/https?:\/\/\S+\/ho-so\/xem\/[A-Za-z0-9_-]+/)[0];
    await weigh(t, c, 'ho-so-rieng', await c.get(new URL(link).pathname));
  } else {
    t.diagnostic('DVC_E2E_DATA_DIR unset: the private dossier page is not weighed');
  }
});

test('the verification-code page (DVC_CAPTCHA=image) is within the budget', { timeout: 120_000 }, async (t) => {
  const c = new Client(captcha.url);
  const form = await c.get(`/thu-tuc/${PROC}/nop-ho-so`);
  const csrf = hidden(form.text, 'csrf');
  const ok = await c.postMultipart(`/thu-tuc/${PROC}/nop-ho-so`, [['csrf', csrf], ...ANSWERS, ['tep_giay_chung_sinh', { filename: 'giay-chung-sinh.pdf', type: 'application/pdf', data: pdf() }]]);
  assert.equal(ok.status, 303);
  const review = await c.get(`/thu-tuc/${PROC}/nop-ho-so/kiem-tra`);
  await weigh(t, c, 'kiem-tra-ma-anh', review);
  const img = review.text.match(/<img[^>]+src="([^"]+)"/)[1];
  const png = await c.get(img, { headers: { accept: 'image/png' } });
  assert.equal(png.status, 200);
  t.diagnostic(`verification-code image (not render-blocking): ${(png.wireBytes / 1000).toFixed(1)} KB`);
  const text = await c.get(`/thu-tuc/${PROC}/nop-ho-so/kiem-tra?ma-xac-nhan=chu`);
  await weigh(t, c, 'kiem-tra-ma-chu', text);
  const wrong = await c.postForm(`/thu-tuc/${PROC}/nop-ho-so/gui`, {
    csrf: hidden(text.text, 'csrf'), submit_token: hidden(text.text, 'submit_token'), captcha_id: hidden(text.text, 'captcha_id'), captcha_answer: '000000x',
  });
  await weigh(t, c, 'kiem-tra-ma-sai', wrong, { expectStatus: 422 });
});

test('the back-office pages are within the budget', { timeout: 120_000 }, async (t) => {
  if (!off.dataDir) return t.skip('DVC_E2E_DATA_DIR unset: no staff accounts');
  ensureStaff(off);
  const code = await submitDossier(off.url);
  const c = new Client(off.url);
  const form = await c.get('/can-bo/dang-nhap');
  await weigh(t, c, 'can-bo-dang-nhap', form);
  const csrf = hidden(form.text, 'csrf');
  await weigh(t, c, 'can-bo-dang-nhap-loi', await c.postForm('/can-bo/dang-nhap', { csrf, email: STAFF.reception.email, password: 'sai mật khẩu rồi' }), { expectStatus: 401 });
  const ok = await c.postForm('/can-bo/dang-nhap', { csrf, email: STAFF.reception.email, password: PASSWORD });
  assert.equal(ok.status, 303, 'logged in');
  await weigh(t, c, 'can-bo-hang-doi', await c.get('/can-bo?hang-doi=tat-ca'));
  await weigh(t, c, 'can-bo-ho-so', await c.get(`/can-bo/ho-so/${encodeURIComponent(code)}`));
  const a = new Client(off.url);
  const f = await a.get('/can-bo/dang-nhap');
  assert.equal((await a.postForm('/can-bo/dang-nhap', { csrf: hidden(f.text, 'csrf'), email: STAFF.admin.email, password: PASSWORD })).status, 303);
  await weigh(t, a, 'can-bo-quan-tri', await a.get('/can-bo/quan-tri/can-bo'));
});
