// /admin/users: list, change roles, end sessions, disable, reset TOTP. Admins only.
import type { FastifyInstance } from 'fastify'
import { UserSchema, errors } from '../auth/schemas.ts'
import { ROLES, PAGE_MAX } from '../../accounts/admin.ts'
import { isId } from '../../db/ids.ts'
import { NotFoundError } from '../../errors.ts'

// A user as /auth/me shows it, plus what only an admin sees.
const AdminUserSchema = {
  ...UserSchema,
  properties: { ...UserSchema.properties, disabled: { type: 'boolean' } },
  required: [...UserSchema.required, 'disabled']
} as const
const IdParams = { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] } as const

export default async function adminUserRoutes (app: FastifyInstance) {
  app.addHook('onRequest', app.authenticate)
  app.addHook('onRequest', app.requireRole('admin'))
  const tags = { tags: ['admin'], security: [{ bearer: [] }] }
  const audit = (request: { auth: { sub: string } | null, ip: string }, event: string, target: string, extra: object = {}) =>
    app.security.info({ event, actor: request.auth?.sub, target, ip: request.ip, ...extra }, `admin: ${event}`)

  app.get<{ Querystring: { limit?: string, cursor?: string } }>('/users', {
    schema: {
      ...tags,
      summary: 'List users, by pages',
      // Query values are strings (no type coercion anywhere): limit is digits, capped below.
      querystring: { type: 'object', properties: { limit: { type: 'string', pattern: '^[1-9][0-9]{0,8}$' }, cursor: { type: 'string', maxLength: 128 } } },
      response: {
        200: {
          type: 'object',
          properties: {
            users: { type: 'array', items: { ...AdminUserSchema, properties: { ...AdminUserSchema.properties, email: { type: ['string', 'null'] }, emailVerified: { type: 'boolean' }, createdAt: { type: 'string', format: 'date-time' } } } },
            nextCursor: { type: ['string', 'null'] }
          },
          required: ['users', 'nextCursor']
        },
        ...errors(400, 401, 403)
      }
    }
  }, async function listUsers (request) {
    return app.userAdmin.list(Math.min(Number(request.query.limit ?? 50), PAGE_MAX), request.query.cursor)
  })

  app.put<{ Params: { id: string }, Body: { roles: string[] } }>('/users/:id/roles', {
    schema: {
      ...tags,
      summary: "Replace a user's roles; their current access tokens stop working",
      params: IdParams,
      body: { type: 'object', properties: { roles: { type: 'array', items: { type: 'string', maxLength: 32 }, maxItems: ROLES.length * 2 } }, required: ['roles'], additionalProperties: false },
      response: { 200: AdminUserSchema, ...errors(400, 401, 403, 404, 409) }
    }
  }, async function setRoles (request) {
    const user = await app.userAdmin.setRoles(request.params.id, request.body.roles)
    audit(request, 'roles_changed', user.id, { roles: user.roles })
    return user
  })

  app.post<{ Params: { id: string } }>('/users/:id/logout', {
    schema: { ...tags, summary: 'End every session of a user', params: IdParams, response: { 204: { type: 'null' }, ...errors(401, 403, 404) } }
  }, async function logoutUser (request, reply) {
    await app.userAdmin.endSessions(request.params.id)
    audit(request, 'user_logged_out', request.params.id)
    reply.code(204).send()
  })

  app.post<{ Params: { id: string } }>('/users/:id/password-reset', {
    schema: {
      ...tags,
      summary: 'Issue a one-time password reset token for a user (PASSWORD_RESET_TTL); every session of the user ends',
      description: 'Hand the token to the user out of band; they set a new password with POST /auth/password/reset. It is stored only as a hash; a new one replaces the last.',
      params: IdParams,
      response: { 200: { type: 'object', properties: { reset_token: { type: 'string' }, expires_in: { type: 'integer' } }, required: ['reset_token', 'expires_in'] }, ...errors(401, 403, 404) }
    }
  }, async function passwordReset (request, reply) {
    if (!isId(request.params.id)) throw new NotFoundError('No such user')
    const { resetToken, expiresIn } = await app.passwordLife.issueReset(request.params.id)
    audit(request, 'password_reset_issued', request.params.id)
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    return { reset_token: resetToken, expires_in: expiresIn }
  })

  app.delete<{ Params: { id: string } }>('/users/:id/mfa', {
    schema: {
      ...tags,
      summary: "Reset a user's TOTP: the factor and its recovery codes are deleted, every session of the user ends",
      description: 'For a user who lost their authenticator: they sign in with the password alone, then may enrol again. Passkeys are not removed. Errors: 404.',
      params: IdParams,
      response: { 204: { type: 'null' }, ...errors(401, 403, 404) }
    }
  }, async function resetMfa (request, reply) {
    await app.userAdmin.resetMfa(request.params.id)
    audit(request, 'mfa_reset', request.params.id)
    reply.code(204).send()
  })

  app.patch<{ Params: { id: string }, Body: { disabled: boolean } }>('/users/:id', {
    schema: {
      ...tags,
      summary: 'Disable or re-enable a user',
      params: IdParams,
      body: { type: 'object', properties: { disabled: { type: 'boolean' } }, required: ['disabled'], additionalProperties: false },
      response: { 200: AdminUserSchema, ...errors(400, 401, 403, 404, 409) }
    }
  }, async function patchUser (request) {
    const user = await app.userAdmin.setDisabled(request.params.id, request.body.disabled)
    audit(request, request.body.disabled ? 'user_disabled' : 'user_enabled', user.id)
    return user
  })
}
