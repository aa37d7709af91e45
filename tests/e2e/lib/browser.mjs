// Headless Chromium from Debian (`chromium` package) driven by playwright-core, which cannot
// download a browser of its own here.
import { chromium } from 'playwright-core';
import fs from 'node:fs';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

// The machine has no internet: background networking, component updates and sync make
// Chromium hang or wait on time-outs. Playwright gives each launch a fresh temporary
// user-data-dir (and removes it on close).
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launch() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: apt-get install chromium chromium-driver (scripts/e2e.sh does it)`);
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
}

/**
 * A fresh browser context (own cookies = own session) with a Vietnamese locale.
 * `javaScript: false` turns script execution off in the page, to prove that no journey needs it;
 * audit() turns it on only while axe runs (see withScripts).
 */
export async function newPage(browser, { width = 1280, height = 900, javaScript = true } = {}) {
  const context = await browser.newContext({ locale: 'vi-VN', timezoneId: 'Asia/Ho_Chi_Minh', viewport: { width, height } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  if (!javaScript) {
    const cdp = await context.newCDPSession(page);
    await cdp.send('Emulation.setScriptExecutionDisabled', { value: true });
    noScript.set(page, cdp);
  }
  return page;
}

const noScript = new WeakMap();

/** Runs `fn` with script execution on (axe needs timers), then turns it off again if it was off. */
export async function withScripts(page, fn) {
  const cdp = noScript.get(page);
  if (!cdp) return fn();
  await cdp.send('Emulation.setScriptExecutionDisabled', { value: false });
  try {
    return await fn();
  } finally {
    await cdp.send('Emulation.setScriptExecutionDisabled', { value: true });
  }
}


/** Runs `action` (a click, a key press) and waits for the page it leads to. */
export async function andWait(page, action) {
  const [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), action()]);
  return response;
}

/**
 * The class of the element that has the focus. Chromium applies `autofocus` at the next
 * rendering update, which can come after the `load` event `andWait` waits for, so this polls
 * (from Node, as page scripts may be off) for up to two seconds until the focus leaves `<body>`.
 */
export async function focusedClass(page) {
  const read = () => page.evaluate(() => {
    const e = document.activeElement;
    return e && e !== document.body ? e.className || e.tagName.toLowerCase() : '';
  });
  for (let i = 0; i < 40; i++) {
    const c = await read();
    if (c) return c;
    await new Promise((r) => setTimeout(r, 50));
  }
  return read();
}
