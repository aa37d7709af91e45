// A real OpenID Connect provider for the sign-in tests and for trying sign-in locally:
// oidc-provider (OpenID Certified), with accounts whose claims look like the national
// electronic identity's (VNeID): full name, birth date, personal identification number,
// identification level, phone, e-mail. Its built-in development pages ask for a login (any
// password) and a consent.
//
//   node tests/oidc/provider.mjs            # http://127.0.0.1:9090, redirect to http://127.0.0.1:8080
//
// Settings (environment):
//   OIDC_PORT            port to listen on (default 9090; 0: any free port, named in READY)
//   OIDC_CLIENT_ID       default "dichvucong"
//   OIDC_CLIENT_SECRET   default "dichvucong-test-secret-0123456789"
//   OIDC_PORTAL          the portal's base URL (default http://127.0.0.1:8080): redirect URI
//                        <portal>/dang-nhap/xac-thuc, post-logout redirect <portal>/
//   OIDC_TAMPER          tests only: "audience" or "expired" re-signs every ID token (with the
//                        provider's own key) for another audience, or already expired
//
// Prints "READY <issuer>" on standard output once it listens.
import { createServer } from 'node:http';
import Provider from 'oidc-provider';
import { generateKeyPair, exportJWK, SignJWT } from 'jose';

// Listening first: with port 0 the system picks a free port, with no race against other tests.
const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(process.env.OIDC_PORT ?? 9090), '127.0.0.1', resolve);
});
const port = server.address().port;
const issuer = `http://127.0.0.1:${port}`;
const portal = (process.env.OIDC_PORTAL || 'http://127.0.0.1:8080').replace(/\/$/, '');
const clientId = process.env.OIDC_CLIENT_ID || 'dichvucong';
const clientSecret = process.env.OIDC_CLIENT_SECRET || 'dichvucong-test-secret-0123456789';
const tamper = process.env.OIDC_TAMPER || '';

// Log in as one of these (any password). Any other login name is a level-1 account without an
// identification number.
const accounts = {
  an: { name: 'Nguyễn Văn An', birthdate: '1990-05-12', citizen_id: '001090000001', identity_level: '2',
        phone_number: '0912345678', email: 'an@example.vn' },
  binh: { name: 'Trần Thị Bình', birthdate: '1985-11-03', citizen_id: '001185000002', identity_level: '2',
          phone_number: '0987654321', email: 'binh@example.vn' },
  chi: { name: 'Lê Minh Chí', birthdate: '2000-01-20', citizen_id: '001200000003', identity_level: '1',
         email: 'chi@example.vn' },
  // Same e-mail as "an", another person: an e-mail never links accounts.
  an2: { name: 'Phạm Văn An', birthdate: '1970-02-02', citizen_id: '001070000004', identity_level: '2',
         email: 'an@example.vn' },
};

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [`${portal}/dang-nhap/xac-thuc`],
    post_logout_redirect_uris: [`${portal}/`],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [jwk] },
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'email', 'phone'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'birthdate', 'citizen_id', 'identity_level'],
    email: ['email', 'email_verified'],
    phone: ['phone_number', 'phone_number_verified'],
  },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  findAccount: async (_ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, ...(accounts[id] || { name: id, identity_level: '1' }) }),
  }),
});
provider.proxy = false;
provider.on('server_error', (_ctx, err) => console.error(err));

if (tamper) {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/token' && ctx.body && typeof ctx.body.id_token === 'string') {
      const [h, p] = ctx.body.id_token.split('.');
      const header = JSON.parse(Buffer.from(h, 'base64url').toString());
      const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
      if (tamper === 'audience') payload.aud = 'another-portal';
      if (tamper === 'expired') { payload.iat -= 7200; payload.exp = payload.iat + 600; }
      ctx.body.id_token = await new SignJWT(payload).setProtectedHeader(header).sign(privateKey);
    }
  });
}

server.on('request', provider.callback());
console.log(`READY ${issuer}`);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
