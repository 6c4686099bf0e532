// Liveness and readiness: ready checks the database and the revocation list.
import type { FastifyInstance } from 'fastify'

export default async function healthRoutes (app: FastifyInstance) {
  app.get('/health/live', { config: { rateLimit: false }, schema: { tags: ['health'] } }, async function live () {
    return { status: 'ok' }
  })
  app.get('/health/ready', { config: { rateLimit: false }, schema: { tags: ['health'] } }, async function ready (_request, reply) {
    const [database, revocations] = await Promise.all([
      app.db.ping().then(() => 'up', () => 'down'),
      // Up only when the mirror is trusted: synced and hearing every change.
      app.revocations.ping().then(() => app.revocations.trusted ? 'up' : 'syncing', () => 'down')
    ])
    const ok = database === 'up' && revocations === 'up'
    reply.code(ok ? 200 : 503)
    return { status: ok ? 'ok' : 'unavailable', database, revocations, revocationBackend: app.revocations.backendName }
  })
}
