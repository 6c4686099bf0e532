// GET /.well-known/jwks.json: the public keys that verify access tokens.
import type { FastifyInstance } from 'fastify'

export default async function wellKnownRoutes (app: FastifyInstance, opts: { jwks: { keys: Array<Record<string, unknown>> } }) {
  app.get('/.well-known/jwks.json', { schema: { tags: ['keys'] } }, async function jwks (_request, reply) {
    reply.header('cache-control', 'public, max-age=300')
    return opts.jwks
  })
}
