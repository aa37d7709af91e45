// The test OpenID Connect provider (tests/oidc/provider.mjs, npm oidc-provider) and a portal
// that signs citizens in with it, both on free ports chosen here (the provider must know the
// portal's callback URL before either starts).
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { repoRoot, startServer } from './server.mjs';

export const CLIENT_ID = 'dichvucong';
export const CLIENT_SECRET = 'dichvucong-test-secret-0123456789';

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts the provider for a portal at `portal`; resolves with { issuer, stop() }. */
export async function startProvider(portal) {
  const port = await freePort();
  const dir = path.join(repoRoot, 'tests', 'oidc');
  const child = spawn(process.execPath, [path.join(dir, 'provider.mjs')], {
    cwd: dir,
    env: { ...process.env, OIDC_PORT: String(port), OIDC_PORTAL: portal, OIDC_CLIENT_ID: CLIENT_ID, OIDC_CLIENT_SECRET: CLIENT_SECRET },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const issuer = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the OpenID provider did not start in 30 s (npm ci in tests/oidc?)\n${stderr}`)), 30_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/READY (\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`the OpenID provider exited (${code})\n${stderr}`)); });
  });
  return {
    issuer,
    async stop() {
      if (child.exitCode === null) {
        const done = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
      }
    },
  };
}

/** A portal with DVC_LOGIN=optional and its provider; stop() stops both. */
export async function portalWithSignIn() {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const provider = await startProvider(url);
  const binary = process.env.DVC_E2E_BIN;
  const srv = await startServer({
    ...(binary ? { binary } : {}),
    extraEnv: {
      DVC_LISTEN: `127.0.0.1:${port}`,
      DVC_OIDC_ISSUER: provider.issuer,
      DVC_OIDC_CLIENT_ID: CLIENT_ID,
      DVC_OIDC_CLIENT_SECRET: CLIENT_SECRET,
      DVC_LOGIN: 'optional',
    },
  });
  return {
    url: srv.url,
    issuer: provider.issuer,
    dataDir: srv.dataDir,
    async stop() {
      await srv.stop();
      await provider.stop();
    },
  };
}
