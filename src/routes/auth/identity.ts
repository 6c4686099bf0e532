// GET /auth/me, /auth/protected and /auth/admin: the hot path. They answer from
// the verified token's claims and the in-memory revocation mirror alone.
import type { FastifyInstance } from 'fastify'
import { UserSchema, docs, errors } from './schemas.ts'

// The address comes from the token's claims, as the rest does: no database read (it is as of the token's
// issue; a refresh brings a change).
const MeSchema = { ...UserSchema, properties: { ...UserSchema.properties, email: { type: ['string', 'null'] }, emailVerified: { type: 'boolean' } }, required: [...UserSchema.required, 'email', 'emailVerified'] } as const
const MessageSchema = { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] } as const

export default async function identityRoutes (app: FastifyInstance) {
  const guarded = { tags: ['auth'], security: [{ bearer: [] }], description: docs.bearer }

  app.get('/me', {
    onRequest: app.authenticate,
    schema: { ...guarded, summary: 'The current user', response: { 200: MeSchema, ...errors(401, 503) } }
  }, async function me (request) {
    const { sub, preferred_username: username, roles } = request.auth!
    const { email, email_verified: emailVerified } = request.auth!
    return { id: sub, username, roles, email: email ?? null, emailVerified: emailVerified === true }
  })

  app.get('/protected', {
    onRequest: app.authenticate,
    schema: { ...guarded, summary: 'Any signed-in user', response: { 200: MessageSchema, ...errors(401, 503) } }
  }, async function protectedRoute (request) {
    return { message: `Hello, ${request.auth!.preferred_username}!` }
  })

  app.get('/admin', {
    onRequest: [app.authenticate, app.requireRole('admin')],
    schema: { ...guarded, summary: 'Admins only', response: { 200: MessageSchema, ...errors(401, 403, 503) } }
  }, async function adminRoute () {
    return { message: 'Welcome, Admin!' }
  })
}
