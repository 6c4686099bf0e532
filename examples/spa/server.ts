// Serves the SPA example on its own origin. The TypeScript sources are served
// as JavaScript by stripping their types (Node's own stripper): no build step.
import { createServer, type Server } from 'node:http'
import { readFile } from 'node:fs/promises'
import { stripTypeScriptTypes } from 'node:module'
import { fileURLToPath } from 'node:url'

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))

const files: Record<string, { path: string, type: string, ts?: boolean }> = {
  '/': { path: here('./index.html'), type: 'text/html; charset=utf-8' },
  '/style.css': { path: here('./style.css'), type: 'text/css; charset=utf-8' },
  '/app.ts': { path: here('./app.ts'), type: 'text/javascript; charset=utf-8', ts: true },
  '/step-up.ts': { path: here('./step-up.ts'), type: 'text/javascript; charset=utf-8', ts: true },
  '/providers.ts': { path: here('./providers.ts'), type: 'text/javascript; charset=utf-8', ts: true },
  '/email.ts': { path: here('./email.ts'), type: 'text/javascript; charset=utf-8', ts: true },
  '/activity.ts': { path: here('./activity.ts'), type: 'text/javascript; charset=utf-8', ts: true },
  // app.ts imports '../../client/index.ts', which the browser resolves to /client/index.ts (and its modules beside it).
  // Every module of the library, by name: a file left off this list fails the import in the browser.
  ...Object.fromEntries([
    'index', 'types', 'client', 'session', 'schedule', 'events', 'calls',
    'transport', 'refresh', 'tabs', 'storage', 'dpop', 'webauthn', 'reauth',
    'api/credentials', 'api/mfa', 'api/passkeys', 'api/passwords', 'api/sessions', 'api/step-up', 'api/oidc', 'api/email', 'api/events'
  ].map((name) => [
    `/client/${name}.ts`, { path: here(`../../client/${name}.ts`), type: 'text/javascript; charset=utf-8', ts: true }
  ])),
  // A QR code for TOTP enrolment, drawn in the page (the secret never leaves it).
  '/vendor/uqr.mjs': { path: fileURLToPath(import.meta.resolve('uqr')), type: 'text/javascript; charset=utf-8' }
}

const escapeAttr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;')

export interface SpaServer { url: string, server: Server, close: () => Promise<void> }

export async function startSpa (opts: { authBaseUrl: string, port?: number, host?: string }): Promise<SpaServer> {
  const api = new URL(opts.authBaseUrl).origin
  const csp = [
    "default-src 'self'", `connect-src 'self' ${api}`, "script-src 'self'", "style-src 'self'",
    "img-src 'self' data:", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"
  ].join('; ')
  const cache = new Map<string, string>()
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    const file = files[path]
    if (file === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
      return
    }
    try {
      let body = cache.get(path)
      if (body === undefined) {
        const source = await readFile(file.path, 'utf8')
        body = file.ts === true
          ? stripTypeScriptTypes(source, { mode: 'strip' })
          : path === '/' ? source.replace('__AUTH_BASE_URL__', escapeAttr(opts.authBaseUrl)) : source
        cache.set(path, body)
      }
      res.writeHead(200, {
        'content-type': file.type,
        'content-security-policy': csp,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-cache'
      }).end(req.method === 'HEAD' ? undefined : body)
    } catch {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('error')
    }
  })
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve))
  const address = server.address() as { port: number }
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${address.port}`,
    server,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()) })
  }
}
