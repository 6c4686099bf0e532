// GET /.well-known/jwks.json: the public keys that verify access tokens (next,
// current and still-verifying), cacheable for JWKS_MAX_AGE: a new key is
// published that long before it signs, so a verifier's cached copy knows it.
import type { FastifyInstance } from 'fastify'

export default async function wellKnownRoutes (app: FastifyInstance, opts: { maxAge: number }) {
  const cacheControl = `public, max-age=${opts.maxAge}`
  app.get('/.well-known/jwks.json', { schema: { tags: ['keys'], summary: 'The public signing keys (JWK Set)' } }, async function jwks (request, reply) {
    const { body, etag } = app.keys.keyring.jwks()
    reply.header('cache-control', cacheControl).header('etag', etag)
    if (request.headers['if-none-match'] === etag) return reply.code(304).send()
    return body
  })
}
