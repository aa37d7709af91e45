// What every citizen page must pass, wherever a test reaches it (including error states):
// lang="vi", no script (but a deferred same-origin enhancement), axe-core with the WCAG 2.0/2.1/2.2 A and AA rules (0 violations),
// hints and errors tied to their fields, no horizontal scrolling at 320 px, at 200 % zoom and
// with text at 200 % nor with WCAG 1.4.12 text spacing; then screenshots at phone and desktop
// widths into output/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { withScripts } from './browser.mjs';

const require = createRequire(import.meta.url);
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
export const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
export const OUTPUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'output');
fs.mkdirSync(path.join(OUTPUT, 'screenshots'), { recursive: true });

const PHONE = 375;
const DESKTOP = 1280;

/** Every page audited in this process, for the summary written at the end. */
export const audited = [];

function describe(v) {
  const nodes = v.nodes.slice(0, 5).map((n) => `    ${n.target.join(' ')}: ${(n.failureSummary || '').replace(/Fix (any|all) of the following:/g, '').replace(/\s+/g, ' ').trim()}`);
  return `  [${v.id}] ${v.help} (${v.impact}; ${v.tags.filter((t) => t.startsWith('wcag')).join(', ')})\n${nodes.join('\n')}`;
}

/** axe-core on the page as it is now. Returns { violations (WCAG A/AA), advice (best practice) }. */
export async function axe(page) {
  const hasAxe = await page.evaluate('typeof window.axe === "object"');
  if (!hasAxe) await page.evaluate(AXE_SOURCE); // through the debugger protocol, not a <script>: the CSP stays as is
  const result = await page.evaluate(async (tags) => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations', 'incomplete'] });
    const simple = (v) => ({ id: v.id, help: v.help, impact: v.impact, tags: v.tags, nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })) });
    // Contrast that axe could not decide (text over an image, a gradient…) counts as a failure too;
    // a lone symbol such as ★ or → (no text to read) does not.
    const contrast = r.incomplete.filter((v) => v.id === 'color-contrast').map((v) => ({
      ...simple(v),
      id: 'color-contrast-undecided',
      help: 'Contrast could not be measured: make it measurable (plain background colours)',
      nodes: v.nodes.filter((n) => !n.any.some((c) => c.data?.messageKey === 'nonBmp')).map((n) => ({ target: n.target, failureSummary: n.any.map((c) => c.message).join(' ') })),
    })).filter((v) => v.nodes.length);
    return [...r.violations.map(simple), ...contrast];
  }, [...WCAG_TAGS, 'best-practice']);
  const isWcag = (v) => v.tags.some((t) => WCAG_TAGS.includes(t));
  return { violations: result.filter(isWcag), advice: result.filter((v) => !isWcag(v)) };
}

async function horizontalOverflow(page) {
  return page.evaluate(() => {
    const root = document.documentElement;
    const width = root.clientWidth;
    if (root.scrollWidth <= width) return null;
    const culprits = [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > width + 1 && e.getClientRects().length)
      .slice(0, 5)
      .map((e) => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}${e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\s+/).join('.') : ''}`);
    return `scrollWidth ${root.scrollWidth} > ${width}: ${culprits.join(', ')}`;
  });
}

/** Hints and error messages are referenced by aria-describedby; every error message has an id. */
async function formWiring(page) {
  return page.evaluate(() => {
    const problems = [];
    const described = new Set();
    for (const el of document.querySelectorAll('[aria-describedby]')) {
      for (const id of el.getAttribute('aria-describedby').split(/\s+/).filter(Boolean)) {
        if (!document.getElementById(id)) problems.push(`aria-describedby of #${el.id} names missing #${id}`);
        described.add(id);
      }
    }
    for (const el of document.querySelectorAll('form .error-message, form .hint')) {
      if (!el.id) problems.push(`${el.className} without id: "${el.textContent.trim().slice(0, 40)}"`);
      else if (!described.has(el.id)) problems.push(`#${el.id} is not tied to a field`);
    }
    for (const a of document.querySelectorAll('.error-summary a[href^="#"]')) {
      if (!document.getElementById(a.getAttribute('href').slice(1))) problems.push(`error summary link ${a.getAttribute('href')} has no target`);
    }
    return problems;
  });
}

/**
 * Audits the page as it is now (it is not reloaded, so pages shown after a POST work too)
 * and takes its screenshots. Fails the test on any violation.
 */
export async function audit(page, name, { screenshots = true, axeWidths = [PHONE, DESKTOP], quiet = false } = {}) {
  const started = Date.now();
  const original = page.viewportSize();
  const problems = [];

  const basics = await page.evaluate(() => ({
    lang: document.documentElement.getAttribute('lang'),
    // Only a deferred, same-origin enhancement may be there (the dossier code's copy button); the
    // page works without it.
    scripts: [...document.querySelectorAll('script')].filter((s) => !(s.defer && s.getAttribute('src')?.startsWith('/static/'))).length,
    title: document.title,
    h1: document.querySelectorAll('h1').length,
  }));
  if (basics.lang !== 'vi') problems.push(`<html lang="${basics.lang}">, expected "vi"`);
  if (basics.scripts) problems.push(`${basics.scripts} inline or blocking <script> element(s): the pages need no JavaScript`);
  if (basics.h1 !== 1) problems.push(`${basics.h1} <h1> elements, expected 1`);
  if (!basics.title.trim()) problems.push('empty <title>');
  problems.push(...(await formWiring(page)));

  const advice = new Map();
  const violations = [];
  for (const width of [PHONE, DESKTOP]) {
    if (!screenshots && !axeWidths.includes(width)) continue;
    await page.setViewportSize({ width, height: 800 });
    if (axeWidths.includes(width)) {
      const r = await withScripts(page, () => axe(page));
      for (const v of r.violations) violations.push(`at ${width}px:\n${describe(v)}`);
      for (const v of r.advice) advice.set(v.id, v);
    }
    if (screenshots) await page.screenshot({ path: path.join(OUTPUT, 'screenshots', `${name}-${width === PHONE ? 'phone' : 'desktop'}-${width}.png`), fullPage: true });
  }

  // Reflow (WCAG 1.4.10): 320 CSS px; 1280 px at 200 % zoom = 640 CSS px; text alone at 200 % (1.4.4).
  for (const width of [320, 640]) {
    await page.setViewportSize({ width, height: 800 });
    const o = await horizontalOverflow(page);
    if (o) problems.push(`horizontal scrolling at ${width} px: ${o}`);
  }
  await page.setViewportSize({ width: DESKTOP, height: 800 });
  await page.evaluate(() => { document.documentElement.style.fontSize = '200%'; });
  const o = await horizontalOverflow(page);
  if (o) problems.push(`horizontal scrolling with text at 200 %: ${o}`);
  await page.evaluate(() => { document.documentElement.style.fontSize = ''; });
  // Text spacing (WCAG 1.4.12) on a phone: nothing may overflow sideways. Added through the
  // CSSOM: the Content-Security-Policy forbids <style> elements.
  await page.setViewportSize({ width: PHONE, height: 800 });
  await page.evaluate(() => {
    document.styleSheets[0].insertRule('* { line-height: 1.5 !important; letter-spacing: .12em !important; word-spacing: .16em !important; }', 0);
    document.styleSheets[0].insertRule('p { margin-bottom: 2em !important; }', 0);
  });
  const spaced = await horizontalOverflow(page);
  if (spaced) problems.push(`horizontal scrolling at ${PHONE} px with WCAG 1.4.12 text spacing: ${spaced}`);
  await page.evaluate(() => { document.styleSheets[0].deleteRule(0); document.styleSheets[0].deleteRule(0); });
  await page.setViewportSize(original);

  audited.push({ name, url: page.url(), violations: violations.length, problems: problems.length, advice: [...advice.keys()], ms: Date.now() - started });
  if (advice.size && !quiet) console.log(`# ${name}: best-practice advice (not failing): ${[...advice.values()].map((v) => `${v.id} — ${v.help}`).join('; ')}`);
  assert.deepEqual([...violations, ...problems], [], `${name} (${page.url()}):\n${[...violations, ...problems].join('\n')}`);
}

/** Writes output/audit-<file>.json with what this test file audited. */
export function writeSummary(file) {
  fs.writeFileSync(path.join(OUTPUT, `audit-${file}.json`), JSON.stringify(audited, null, 2));
}

/**
 * The page as printed (print.css, media="print"): navigation, footer and buttons hidden, black
 * on white. Saves a screenshot at A4 width and a PDF into output/.
 */
export async function printView(page, name) {
  await page.emulateMedia({ media: 'print' });
  try {
    const seen = await page.evaluate(() => {
      const shown = (sel) => [...document.querySelectorAll(sel)].some((e) => e.getClientRects().length > 0);
      const panel = document.querySelector('.panel-confirmation');
      return {
        nav: shown('.site-header nav'),
        footer: shown('.site-footer'),
        buttons: shown('.button, .no-print'),
        panelBackground: panel ? getComputedStyle(panel).backgroundColor : 'rgba(0, 0, 0, 0)',
        bodyColor: getComputedStyle(document.body).color,
      };
    });
    assert.deepEqual(seen, { nav: false, footer: false, buttons: false, panelBackground: 'rgba(0, 0, 0, 0)', bodyColor: 'rgb(0, 0, 0)' }, `${name}: print stylesheet`);
    const size = page.viewportSize();
    await page.setViewportSize({ width: 794, height: 1123 }); // A4 at 96 dpi
    await page.screenshot({ path: path.join(OUTPUT, 'screenshots', `${name}-print.png`), fullPage: true });
    await page.setViewportSize(size);
    await page.pdf({ path: path.join(OUTPUT, `${name}.pdf`), format: 'A4' });
  } finally {
    await page.emulateMedia({ media: null });
  }
}
