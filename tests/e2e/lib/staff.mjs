// Back-office accounts for the officer's flow, all in 000.00.02.H31.
//
// scripts/e2e.sh creates them with the CLI (`dichvucong staff create`) right after starting the
// portal and sets DVC_E2E_STAFF_READY=1 and DVC_E2E_STAFF_PASSWORD. Run by hand (node --test,
// a portal started by lib/server.mjs), ensureStaff() creates them the same way in that portal's
// data dir with DVC_E2E_BIN (or the binary lib/server.mjs would start).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { AGENCY } from './data.mjs';
import { repoRoot } from './server.mjs';

export const PASSWORD = process.env.DVC_E2E_STAFF_PASSWORD || 'một câu mật khẩu dài cho kiểm thử';

export const STAFF = {
  reception: { email: 'motcua@e2e.hongbang.gov.vn', name: 'Nguyễn Văn Một', title: 'Công chức Bộ phận Một cửa' },
  specialist: { email: 'chuyenvien@e2e.hongbang.gov.vn', name: 'Trần Thị Hai', title: 'Công chức Tư pháp - Hộ tịch' },
  leader: { email: 'lanhdao@e2e.hongbang.gov.vn', name: 'Lê Văn Ba', title: 'Phó Chủ tịch UBND phường' },
  admin: { email: 'quantri@e2e.hongbang.gov.vn', name: 'Phạm Thị Bốn', title: 'Quản trị hệ thống' },
};

function binary() {
  if (process.env.DVC_E2E_BIN) return process.env.DVC_E2E_BIN;
  if (process.env.DVC_E2E_BINARY) return process.env.DVC_E2E_BINARY;
  return path.join(process.env.CARGO_TARGET_DIR || path.join(repoRoot, 'target'), 'debug', 'dichvucong');
}

const done = new Set();

/** Creates the accounts in the portal `srv` unless scripts/e2e.sh already did. */
export function ensureStaff(srv) {
  if (process.env.DVC_E2E_STAFF_READY && srv.url === process.env.DVC_E2E_URL?.replace(/\/$/, '')) return;
  if (done.has(srv.dataDir)) return;
  if (!srv.dataDir) throw new Error('the portal has no known data dir: cannot create staff accounts');
  const env = { ...process.env, DVC_DATA_DIR: srv.dataDir, DVC_LOG: 'warn' };
  delete env.DVC_DATABASE_URL;
  for (const [role, s] of Object.entries(STAFF)) {
    execFileSync(binary(), ['staff', 'create', '--email', s.email, '--name', s.name, '--title', s.title, '--role', role, '--agency', AGENCY], {
      env, input: `${PASSWORD}\n`, stdio: ['pipe', 'ignore', 'inherit'],
    });
  }
  done.add(srv.dataDir);
}
