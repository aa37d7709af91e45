// Plain HTTP with a cookie jar, counting the bytes that go over the wire (compressed).
import http from 'node:http';
import zlib from 'node:zlib';
import { ANSWERS, PROC, pdf } from './data.mjs';

export class Client {
  constructor(base, { acceptEncoding = 'br, gzip' } = {}) {
    this.base = base;
    this.acceptEncoding = acceptEncoding;
    this.cookies = new Map();
  }

  cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** { status, headers, wireBytes (body as sent), headerBytes, text (decoded), location } */
  request(path, { method = 'GET', body, contentType, headers = {} } = {}) {
    const url = new URL(path, this.base);
    const h = { 'accept-encoding': this.acceptEncoding, accept: 'text/html,*/*', ...headers };
    if (this.cookies.size) h.cookie = this.cookieHeader();
    if (body !== undefined) {
      h['content-type'] = contentType;
      h['content-length'] = Buffer.byteLength(body);
      h.origin = this.base;
    }
    return new Promise((resolve, reject) => {
      const req = http.request(url, { method, headers: h }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          for (const c of res.headers['set-cookie'] || []) {
            const [pair] = c.split(';');
            const i = pair.indexOf('=');
            this.cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
          }
          const raw = Buffer.concat(chunks);
          const enc = res.headers['content-encoding'];
          const decoded = enc === 'br' ? zlib.brotliDecompressSync(raw) : enc === 'gzip' ? zlib.gunzipSync(raw) : raw;
          // Status line + header lines as they came, for the "transferred" size.
          let headerBytes = `HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n`.length + 2;
          for (let i = 0; i < res.rawHeaders.length; i += 2) headerBytes += Buffer.byteLength(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`);
          resolve({
            status: res.statusCode,
            headers: res.headers,
            wireBytes: raw.length,
            headerBytes,
            body: decoded,
            text: decoded.toString('utf8').replaceAll('&#x2f;', '/'),
            location: res.headers.location,
          });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  get(path, opts) { return this.request(path, opts); }

  postForm(path, fields) {
    return this.request(path, { method: 'POST', body: new URLSearchParams(fields).toString(), contentType: 'application/x-www-form-urlencoded' });
  }

  /** fields: [[name, value]] where value is a string or { filename, type, data: Buffer }. */
  postMultipart(path, fields) {
    const boundary = `----dvce2e${Math.random().toString(16).slice(2)}`;
    const parts = [];
    for (const [name, value] of fields) {
      if (typeof value === 'string') {
        parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
      } else {
        parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${value.filename}"\r\nContent-Type: ${value.type}\r\n\r\n`));
        parts.push(value.data, Buffer.from('\r\n'));
      }
    }
    parts.push(Buffer.from(`--${boundary}--\r\n`));
    return this.request(path, { method: 'POST', body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` });
  }
}

/** The value of the hidden input `name` in an HTML page. */
export function hidden(html, name) {
  const m = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
  return m ? m[1] : undefined;
}

/** A citizen files the "Đăng ký khai sinh" dossier over HTTP; returns its code. */
export async function submitDossier(base) {
  const c = new Client(base);
  const form = await c.get(`/thu-tuc/${PROC}/nop-ho-so`);
  const csrf = hidden(form.text, 'csrf');
  const ok = await c.postMultipart(`/thu-tuc/${PROC}/nop-ho-so`, [['csrf', csrf], ...ANSWERS, ['tep_giay_chung_sinh', { filename: 'giay-chung-sinh.pdf', type: 'application/pdf', data: pdf() }]]);
  if (ok.status !== 303) throw new Error(`declaration refused: HTTP ${ok.status}\n${ok.text.slice(0, 300)}`);
  const review = await c.get(`/thu-tuc/${PROC}/nop-ho-so/kiem-tra`);
  const sent = await c.postForm(`/thu-tuc/${PROC}/nop-ho-so/gui`, { csrf: hidden(review.text, 'csrf'), submit_token: hidden(review.text, 'submit_token') });
  if (sent.status !== 303) throw new Error(`submission refused: HTTP ${sent.status}\n${sent.text.slice(0, 300)}`);
  return decodeURIComponent(sent.location.split('/')[2]);
}
