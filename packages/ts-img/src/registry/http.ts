/**
 * Minimal HTTP(S) client over node:http/https: streaming bodies in both directions, keep-alive
 * agents, optional TLS verification off. Redirects, auth and retries live in client.ts.
 */
import http, { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import fs from 'node:fs';
import { Readable } from 'node:stream';

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  url: URL;
}

export interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string | number | undefined>;
  /** Buffer (replayable) or a stream factory. */
  body?: Buffer | (() => Readable);
  insecure?: boolean;
  /** Socket idle timeout. */
  timeoutMs?: number;
}

/**
 * The CAs of NODE_EXTRA_CA_CERTS, which bin/ts-img moves to TS_IMG_EXTRA_CA_CERTS (Node would read
 * them at every start, ~40 ms): Node's own CAs plus these, as Node would have trusted.
 */
function extraCa(): string[] | undefined {
  const file = process.env.TS_IMG_EXTRA_CA_CERTS;
  if (!file) return undefined;
  try {
    return [...tls.rootCertificates, fs.readFileSync(file, 'utf8')];
  } catch (e) {
    // What Node does with an unreadable NODE_EXTRA_CA_CERTS: a warning, and its own CAs.
    process.stderr.write(`ts-img: warning: ignoring extra certs from ${file}: ${(e as Error).message}\n`);
    return undefined;
  }
}

let httpsAgent: https.Agent | undefined;
const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 16 }),
  get https(): https.Agent {
    return (httpsAgent ??= new https.Agent({ keepAlive: true, maxSockets: 16, ca: extraCa() }));
  },
  httpsInsecure: new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false }),
};

export function httpRequest(req: HttpRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const isHttps = req.url.protocol === 'https:';
    const headers: Record<string, string | number> = { 'User-Agent': 'ts-img/0.1' };
    for (const [k, v] of Object.entries(req.headers ?? {})) if (v !== undefined) headers[k] = v;
    if (Buffer.isBuffer(req.body)) headers['Content-Length'] = req.body.length;
    const opts: https.RequestOptions = {
      method: req.method,
      headers,
      agent: isHttps ? (req.insecure ? agents.httpsInsecure : agents.https) : agents.http,
    };
    const r = (isHttps ? https : http).request(req.url, opts, (res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url: req.url });
    });
    r.setTimeout(req.timeoutMs ?? 60_000, () => r.destroy(Object.assign(new Error(`timeout talking to ${req.url.host}`), { code: 'ETIMEDOUT' })));
    r.on('error', reject);
    if (req.body === undefined) r.end();
    else if (Buffer.isBuffer(req.body)) r.end(req.body);
    else {
      const s = req.body();
      s.on('error', (e) => r.destroy(e));
      s.pipe(r);
    }
  });
}

export async function readBody(res: HttpResponse, limit = 16 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body) {
    n += (c as Buffer).length;
    if (n > limit) {
      res.body.destroy();
      throw new Error(`response from ${res.url.host} larger than ${limit} bytes`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Read and drop a body so the socket can be reused. */
export function drain(res: HttpResponse): Promise<void> {
  return new Promise((resolve) => {
    res.body.on('end', resolve).on('error', () => resolve()).on('close', resolve);
    res.body.resume();
  });
}

/** Errors worth retrying: network-level failures. */
export function isTransientNetworkError(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return (
    code !== undefined &&
    ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE'].includes(code)
  ) || /socket hang up|aborted/i.test((e as Error)?.message ?? '');
}

/** TLS handshake against a plain-HTTP server, or the reverse. */
export function isProtocolMismatch(e: unknown): boolean {
  const code = (e as { code?: string })?.code ?? '';
  const msg = (e as Error)?.message ?? '';
  return code === 'EPROTO' || code.startsWith('ERR_SSL') || /wrong version number|packet length too long|ssl/i.test(msg) || code === 'ECONNRESET';
}
