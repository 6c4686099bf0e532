// Security headers for every answer. helmet's middleware rebuilds its header
// values (the CSP string among them) on every request; for a JSON API they
// never change, so they are computed once, by helmet itself, and set as a
// fixed list. The docs UI sets its own, looser CSP on its routes.
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'
import type { IncomingMessage, ServerResponse } from 'node:http'

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

export default fp(async function securityHeaders (app, opts: HelmetOptions) {
  const headers = Object.fromEntries(fixedSecurityHeaders(opts))
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(headers)
    done()
  })
}, { name: 'security-headers' })
