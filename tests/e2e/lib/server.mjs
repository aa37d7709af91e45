// Starts and stops the portal for the browser tests.
//
// scripts/e2e.sh starts the servers itself and passes them in the environment:
//   DVC_E2E_URL, DVC_E2E_DATA_DIR          the portal with DVC_CAPTCHA=off (the journey)
//   DVC_E2E_CAPTCHA_URL                     the portal with DVC_CAPTCHA=image (the verification-code page)
// When they are unset (running `node --test` by hand), startServer() starts the binary here:
// DVC_E2E_BINARY or <repo>/target/debug/dichvucong, listening on a free port, with a fresh data dir.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..', '..');

function defaultBinary() {
  if (process.env.DVC_E2E_BINARY) return process.env.DVC_E2E_BINARY;
  const target = process.env.CARGO_TARGET_DIR || path.join(repoRoot, 'target');
  return path.join(target, 'debug', 'dichvucong');
}

/**
 * Starts `dichvucong serve` on 127.0.0.1:0 (the OS picks a free port) with a fresh data dir;
 * `extraEnv` adds or overrides settings (e.g. DVC_LISTEN and the DVC_OIDC_* of sign-in).
 */
export async function startServer({ captcha = 'off', binary = defaultBinary(), dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `dvc-e2e-${captcha}-`)), extraEnv = {} } = {}) {
  const env = { ...process.env, DVC_LISTEN: '127.0.0.1:0', DVC_DATA_DIR: dataDir, DVC_CAPTCHA: captcha, ...extraEnv };
  delete env.DVC_SMTP_URL; // e-mails are written to <data dir>/mail
  delete env.DVC_DATABASE_URL;
  const child = spawn(binary, ['serve'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start in 30 s\n${stderr}`)), 30_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/http:\/\/(127\.0\.0\.1:\d+)/);
      if (m) { clearTimeout(timer); resolve(`http://${m[1]}`); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited (${code})\n${stderr}`)); });
  });
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(`${url}/healthz`)).ok) break; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    dataDir,
    async stop() {
      if (child.exitCode === null) {
        const done = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The server given by the environment, or one started here (stopped by the returned stop()). */
export async function server({ captcha = 'off' } = {}) {
  const url = captcha === 'off' ? process.env.DVC_E2E_URL : process.env.DVC_E2E_CAPTCHA_URL;
  if (url) {
    return { url: url.replace(/\/$/, ''), dataDir: captcha === 'off' ? process.env.DVC_E2E_DATA_DIR : undefined, stop: async () => {} };
  }
  return startServer({ captcha });
}


/**
 * A portal of its own with a catalogue of `total` procedures (the sample ones, then copies with
 * new codes `9.0000NN` and names), imported with `dichvucong import-catalog` before it starts:
 * enough for the catalogue pages to have several pages.
 */
export async function largeCatalogueServer(total = 65) {
  const binary = process.env.DVC_E2E_BIN || defaultBinary();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dvc-e2e-catalogue-'));
  const src = path.join(repoRoot, 'catalog');
  const dst = path.join(dataDir, 'catalog');
  fs.mkdirSync(path.join(dst, 'procedures'), { recursive: true });
  fs.copyFileSync(path.join(src, 'agencies.toml'), path.join(dst, 'agencies.toml'));
  const samples = fs.readdirSync(path.join(src, 'procedures')).filter((f) => f.endsWith('.toml')).sort()
    .map((f) => fs.readFileSync(path.join(src, 'procedures', f), 'utf8'));
  samples.forEach((text, i) => fs.writeFileSync(path.join(dst, 'procedures', `s${i}.toml`), text));
  for (let i = 0; i < total - samples.length; i++) {
    const code = `9.${String(i + 1).padStart(6, '0')}`;
    const text = samples[i % samples.length]
      .replace(/^code = ".*"$/m, `code = "${code}"`)
      .replace(/^name = "(.*)"$/m, (_, name) => `name = "${name} (bản sao ${i + 1})"`);
    fs.writeFileSync(path.join(dst, 'procedures', `${code}.toml`), text);
  }
  const env = { ...process.env, DVC_DATA_DIR: dataDir, DVC_LOG: 'warn' };
  delete env.DVC_DATABASE_URL;
  execFileSync(binary, ['import-catalog', dst], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  return startServer({ binary, dataDir });
}
