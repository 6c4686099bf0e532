// The way back from the system browser for a command-line app (RFC 8252,
// section 7.3: a loopback redirect). The service sends the browser to
// return_to with the outcome in the URL's fragment, which a browser never
// sends to a server; so the page served here is a tiny one whose script
// (callback.js, a file of its own: no inline script) reads location.hash and
// POSTs it back to this listener, which hands it to the app.
//
// A phone app uses its own scheme (com.example.app:/oauth) or a claimed
// https link instead; either way its return_to origin or scheme must be on
// the service's OIDC_RETURN_ORIGINS (here http://127.0.0.1:<port>).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { randomBytes } from 'node:crypto'

export interface Received {
  /** The fragment's parameters: login_code, mfa_token or error. */
  params: URLSearchParams
  /** What the browser tab shows once the app is done (the page waits for it). */
  answer (text: string): Promise<void>
}

export interface Loopback {
  /** http://127.0.0.1:<port>/<random>/: the return_to of the sign-in. */
  returnTo: string
  /** The first outcome posted back; rejects after `timeoutMs`. */
  received: Promise<Received>
  close (): Promise<void>
}

const CALLBACK_JS = `// Reads the sign-in's outcome from the fragment and hands it to the app listening here.
const status = document.getElementById('status')
const outcome = location.hash.slice(1)
history.replaceState(null, '', location.pathname)
fetch('done', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: outcome })
  .then((res) => res.text())
  .then((text) => { status.textContent = text })
  .catch(() => { status.textContent = 'The app is not listening any more: go back to it and try again.' })
`

const page = (prefix: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signing in</title></head>
<body><p id="status">Finishing the sign-in…</p><script src="${prefix}callback.js"></script></body></html>
`

/** Listens on 127.0.0.1:`port` (0: a free port) until an outcome arrives, or `timeoutMs` passes. */
export async function loopback (port: number, timeoutMs: number): Promise<Loopback> {
  // An unguessable path: another page in the browser cannot post a code of its choosing (login CSRF).
  const prefix = `/${randomBytes(16).toString('base64url')}/`
  let deliver!: (r: Received) => void
  let fail!: (err: Error) => void
  const received = new Promise<Received>((resolve, reject) => { deliver = resolve; fail = reject })
  received.catch(() => {})
  let done = false
  let origin = ''

  const headers = (type: string) => ({
    'content-type': type,
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
  })
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    if (req.method === 'GET' && path === prefix) {
      res.writeHead(200, headers('text/html; charset=utf-8')).end(page(prefix))
      return
    }
    if (req.method === 'GET' && path === `${prefix}callback.js`) {
      res.writeHead(200, headers('text/javascript; charset=utf-8')).end(CALLBACK_JS)
      return
    }
    // Only this page's script posts here: same origin (a form from another site says otherwise), once.
    if (req.method === 'POST' && path === `${prefix}done` && req.headers.origin === origin && !done) {
      let body = ''
      req.setEncoding('utf8')
      req.on('data', (chunk: string) => { body += chunk; if (body.length > 4096) req.destroy() })
      req.on('end', () => {
        done = true
        deliver({ params: new URLSearchParams(body), answer: (text) => new Promise((resolve) => { res.writeHead(200, headers('text/plain; charset=utf-8')).end(text, resolve) }) })
      })
      return
    }
    res.writeHead(404, headers('text/plain; charset=utf-8')).end('not found')
  })
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve) })
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  const timer = setTimeout(() => fail(new Error(`no answer from the browser within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs)
  return {
    returnTo: `${origin}${prefix}`,
    received,
    close: () => new Promise((resolve) => { clearTimeout(timer); server.closeAllConnections(); server.close(() => resolve()) })
  }
}
