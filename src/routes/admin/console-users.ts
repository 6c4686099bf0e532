// What the admin console needs beside /admin/users: search, create, and one
// user's sessions (list, end one). Admins only.
import type { FastifyInstance } from 'fastify'
import { CredentialsSchema, errors } from '../auth/schemas.ts'
import { ROLES } from '../../accounts/admin.ts'
import { SEARCH_MAX } from '../../accounts/search.ts'
import { isId } from '../../db/ids.ts'
import { NotFoundError, ValidationError } from '../../errors.ts'

const AdminUser = {
  type: 'object',
  properties: { id: { type: 'string' }, username: { type: 'string' }, roles: { type: 'array', items: { type: 'string' } }, disabled: { type: 'boolean' }, createdAt: { type: 'string', format: 'date-time' } },
  required: ['id', 'username', 'roles', 'disabled']
} as const
const AdminSession = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    lastUsedAt: { type: 'string', format: 'date-time' },
    userAgent: { type: ['string', 'null'] },
    ip: { type: ['string', 'null'] },
    amr: { type: 'array', items: { type: 'string' } }
  },
  required: ['id', 'createdAt', 'lastUsedAt', 'userAgent', 'ip', 'amr']
} as const
const IdParams = { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] } as const

export default async function consoleUserRoutes (app: FastifyInstance) {
  app.addHook('onRequest', app.authenticate)
  app.addHook('onRequest', app.requireRole('admin'))
  const tags = { tags: ['admin'], security: [{ bearer: [] }] }
  const audit = (request: { auth: { sub: string } | null }, event: string, target: string, extra: object = {}) =>
    app.security.info({ event, actor: request.auth?.sub, target, ...extra }, `admin: ${event}`)

  app.get<{ Querystring: { q: string } }>('/users/search', {
    schema: {
      ...tags,
      summary: `Find users: a user id, or usernames containing q (case-insensitive; at most ${SEARCH_MAX})`,
      querystring: { type: 'object', properties: { q: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['q'] },
      response: { 200: { type: 'array', items: AdminUser }, ...errors(400, 401, 403) }
    }
  }, async function searchUsers (request) {
    return app.userSearch(request.query.q)
  })

  app.post<{ Body: { username: string, password: string, roles?: string[] } }>('/users', {
    schema: {
      ...tags,
      summary: 'Create a user with a password and roles (default ["user"])',
      description: 'Errors: 400 VALIDATION (an unknown role too), 400 PASSWORD_TOO_COMMON, 409 USERNAME_TAKEN.',
      body: { ...CredentialsSchema, properties: { ...CredentialsSchema.properties, roles: { type: 'array', items: { type: 'string', maxLength: 32 }, maxItems: ROLES.length } }, additionalProperties: false },
      response: { 201: AdminUser, ...errors(400, 401, 403, 409) }
    }
  }, async function createUser (request, reply) {
    const roles = [...new Set(request.body.roles ?? ['user'])].sort()
    const unknown = roles.filter((r) => !(ROLES as readonly string[]).includes(r))
    if (unknown.length > 0) throw new ValidationError(`unknown role: ${unknown.join(', ')}`)
    const user = await app.accounts.register(request.body.username, request.body.password, roles)
    audit(request, 'user_created', user.id, { roles: user.roles })
    reply.code(201)
    return { ...user, disabled: false }
  })

  app.get<{ Params: { id: string } }>('/users/:id/sessions', {
    schema: { ...tags, summary: "A user's sessions that can still refresh, most recently used first", params: IdParams, response: { 200: { type: 'array', items: AdminSession }, ...errors(401, 403, 404) } }
  }, async function userSessions (request) {
    await app.userAdmin.get(request.params.id) // 404 for no such user
    const sessions = await app.sessions.listActive(request.params.id)
    return sessions.map((s) => ({ id: s.id, createdAt: s.createdAt.toISOString(), lastUsedAt: s.lastUsedAt.toISOString(), userAgent: s.userAgent, ip: s.ip, amr: s.amr }))
  })

  app.delete<{ Params: { id: string, sid: string } }>('/users/:id/sessions/:sid', {
    schema: {
      ...tags,
      summary: "End one of a user's sessions: its refresh token and access tokens stop at once",
      params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 }, sid: { type: 'string', maxLength: 64 } }, required: ['id', 'sid'] },
      response: { 204: { type: 'null' }, ...errors(401, 403, 404) }
    }
  }, async function endUserSession (request, reply) {
    const { id, sid } = request.params
    // Another user's session answers as an unknown one.
    if (!isId(id) || !isId(sid) || !await app.sessions.endOwn(id, sid, 'admin-ended')) throw new NotFoundError('No such session')
    audit(request, 'session_revoked', id, { sessionId: sid })
    reply.code(204).send()
  })
}
