// GET /auth/sessions and DELETE /auth/sessions/:id: a user sees and ends their own sessions.
import type { FastifyInstance } from 'fastify'
import { NotFoundError } from '../../errors.ts'
import { errors } from './schemas.ts'
import { SESSION_LIST_MAX } from '../../sessions/sessions.ts'

const SessionSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    lastUsedAt: { type: 'string', format: 'date-time' },
    userAgent: { type: ['string', 'null'] },
    ip: { type: ['string', 'null'] },
    current: { type: 'boolean' },
    amr: { type: 'array', items: { type: 'string' }, description: 'how the session signed in (RFC 8176): pwd, otp, hwk, swk, user' },
    authTime: { type: 'string', format: 'date-time' },
    dpopBound: { type: 'boolean', description: 'the session is bound to a DPoP key: its tokens are worthless without it' }
  },
  required: ['id', 'createdAt', 'lastUsedAt', 'userAgent', 'ip', 'current', 'amr', 'authTime', 'dpopBound']
} as const

export default async function sessionListRoutes (app: FastifyInstance) {
  const guarded = { tags: ['sessions'], security: [{ bearer: [] }] }

  app.get('/sessions', {
    onRequest: app.authenticate,
    schema: { ...guarded, summary: `The sessions of the current user that can still refresh, most recently used first (at most ${SESSION_LIST_MAX})`, response: { 200: { type: 'array', items: SessionSchema }, ...errors(401, 503) } }
  }, async function listSessions (request) {
    const { sub, sid } = request.auth!
    const sessions = await app.sessions.listActive(sub)
    return sessions.map((s) => ({
      id: s.id, createdAt: s.createdAt.toISOString(), lastUsedAt: s.lastUsedAt.toISOString(), userAgent: s.userAgent, ip: s.ip, current: s.id === sid, amr: s.amr, authTime: s.authTime.toISOString(), dpopBound: s.dpopJkt !== null
    }))
  })

  app.delete<{ Params: { id: string } }>('/sessions/:id', {
    onRequest: app.authenticate,
    schema: { ...guarded, summary: 'End one of your sessions', params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } } }, response: { 204: { type: 'null' }, ...errors(401, 404, 503) } }
  }, async function endSession (request, reply) {
    const { id } = request.params
    // Another user's session answers exactly as a made-up id does.
    if (!await app.sessions.endOwn(request.auth!.sub, id, 'user-ended')) throw new NotFoundError('No such session')
    app.security.info({ event: 'session_ended', userId: request.auth!.sub, sessionId: id, ip: request.ip }, 'session ended by its user')
    reply.code(204).send()
  })
}
