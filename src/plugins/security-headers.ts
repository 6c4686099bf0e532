// Response headers by the kind of route, each set once per answer from a
// fixed list (nothing computed per request):
// - every answer (JSON API): the OWASP REST Security Cheat Sheet's set:
//   nosniff, a CSP that allows nothing and no framing, HSTS. Fastify sets
//   Content-Type. Browser-page headers would only add bytes to every answer.
// - `noStore` scopes (/auth, /admin: tokens and personal data): also
//   Cache-Control: no-store, so no shared or browser cache keeps them.
// - `page` scopes (the /docs pages): helmet's full browser set on top, as a
//   page needs (its own CSP comes from the page's plugin).
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'
import type { FastifyInstance } from 'fastify'
import type { IncomingMessage, ServerResponse } from 'node:http'

export const API_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'strict-transport-security': 'max-age=31536000; includeSubDomains'
}

export const NO_STORE_HEADERS: Record<string, string> = { 'cache-control': 'no-store' }

/** The headers helmet would set for these options, collected once. */
export function fixedSecurityHeaders (options: HelmetOptions): Array<[string, string]> {
  const headers = new Map<string, string>()
  const collect = {
    setHeader: (name: string, value: string | number | string[]) => { headers.set(name.toLowerCase(), Array.isArray(value) ? value.join(', ') : String(value)) },
    removeHeader: (name: string) => { headers.delete(name.toLowerCase()) },
    getHeader: (name: string) => headers.get(name.toLowerCase())
  }
  let done = false
  helmet(options)({} as IncomingMessage, collect as unknown as ServerResponse, (err?: unknown) => {
    if (err !== undefined) throw err
    done = true
  })
  if (!done) throw new Error('helmet did not finish synchronously')
  return [...headers]
}

function setAll (app: FastifyInstance, headers: Record<string, string>): void {
  app.addHook('onRequest', function fixedHeaders (_request, reply, done) {
    reply.headers(headers)
    done()
  })
}

/** Every answer: the JSON API's baseline. */
export default fp(async function securityHeaders (app) {
  setAll(app, API_HEADERS)
}, { name: 'security-headers' })

/** In a scope whose routes carry tokens or personal data. */
export function noStore (app: FastifyInstance): void {
  setAll(app, NO_STORE_HEADERS)
}

/** In a scope of browser pages: helmet's set (less the CSP, which the page's plugin sets). */
export function pageHeaders (app: FastifyInstance): void {
  setAll(app, Object.fromEntries(fixedSecurityHeaders({ contentSecurityPolicy: false })))
}
