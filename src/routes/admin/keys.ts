// /admin/keys: list, rotate, revoke (emergency) the signing keys. Admins only.
import type { FastifyInstance } from 'fastify'
import { errors } from '../auth/schemas.ts'

const KeySchema = {
  type: 'object',
  properties: {
    kid: { type: 'string' },
    alg: { type: 'string' },
    state: { type: 'string', enum: ['next', 'current', 'verifying', 'retired', 'revoked'] },
    createdAt: { type: 'string', format: 'date-time' },
    signsFrom: { type: 'string', format: 'date-time' },
    retiresAt: { type: ['string', 'null'], format: 'date-time' }
  },
  required: ['kid', 'alg', 'state', 'createdAt', 'signsFrom', 'retiresAt']
} as const
const KidParams = { type: 'object', properties: { kid: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } }, required: ['kid'] } as const

export default async function adminKeyRoutes (app: FastifyInstance) {
  app.addHook('onRequest', app.authenticate)
  app.addHook('onRequest', app.requireRole('admin'))
  const tags = { tags: ['admin'], security: [{ bearer: [] }] }
  const audit = (request: { auth: { sub: string } | null, ip: string }, event: string, kid: string) =>
    app.security.warn({ event, actor: request.auth?.sub, kid, ip: request.ip }, `admin: ${event}`)

  app.get('/keys', {
    schema: { ...tags, summary: 'The signing keys and their states', response: { 200: { type: 'array', items: KeySchema }, ...errors(401, 403) } }
  }, async function listKeys () {
    return app.keys.keyring.list()
  })

  app.post('/keys/rotate', {
    schema: {
      ...tags,
      summary: 'Publish the next signing key now; it signs JWKS_MAX_AGE later. No one is logged out',
      response: { 200: KeySchema, ...errors(401, 403, 409, 503) }
    }
  }, async function rotateKeys (request) {
    // Stored in the rotation's transaction; the log line after it stores nothing again.
    const key = await app.keys.rotate((tx, kid) => app.events.recordIn(tx, { type: 'signing_key_rotated', actorId: request.auth?.sub, details: { kid } }))
    audit(request, 'signing_key_rotated', key.kid)
    return key
  })

  app.post<{ Params: { kid: string } }>('/keys/:kid/revoke', {
    schema: {
      ...tags,
      summary: 'Emergency: tokens signed with this key are refused at once on every instance; their sessions refresh into the current key',
      params: KidParams,
      response: { 200: { type: 'object', properties: { revoked: KeySchema, replacement: KeySchema }, required: ['revoked'] }, ...errors(400, 401, 403, 404, 409, 503) }
    }
  }, async function revokeKey (request) {
    const out = await app.keys.revoke(request.params.kid, (tx, kid) => app.events.recordIn(tx, { type: 'signing_key_revoked', actorId: request.auth?.sub, details: { kid } }))
    audit(request, 'signing_key_revoked', request.params.kid)
    return out
  })
}
