// GET /.well-known/jwks.json: the public keys that verify access tokens (next,
// current and still-verifying), cacheable for JWKS_MAX_AGE: a new key is
// published that long before it signs, so a verifier's cached copy knows it.
import type { FastifyInstance } from 'fastify'

/**
 * If-None-Match by weak comparison (RFC 9110 sections 8.8.3.2 and 13.1.2):
 * `*`, or any tag of the list whose opaque part is the current ETag's, `W/` or not.
 */
export function noneMatch (header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  if (header.trim() === '*') return true
  const current = etag.replace(/^W\//, '')
  return (header.match(/(?:W\/)?"[^"]*"/g) ?? []).some((tag) => tag.replace(/^W\//, '') === current)
}

export default async function wellKnownRoutes (app: FastifyInstance, opts: { maxAge: number }) {
  const cacheControl = `public, max-age=${opts.maxAge}`
  app.get('/.well-known/jwks.json', { schema: { tags: ['keys'], summary: 'The public signing keys (JWK Set)' } }, async function jwks (request, reply) {
    const { body, etag } = app.keys.keyring.jwks()
    reply.header('cache-control', cacheControl).header('etag', etag)
    if (noneMatch(request.headers['if-none-match'], etag)) return reply.code(304).send()
    return body
  })
}
