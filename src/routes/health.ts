// Liveness and readiness: ready checks the database and the revocation list,
// and says which one is down and since when.
import type { FastifyInstance } from 'fastify'

export default async function healthRoutes (app: FastifyInstance) {
  let databaseDownSince: number | undefined

  app.get('/health/live', { schema: { tags: ['health'] } }, async function live () {
    return { status: 'ok' }
  })
  app.get('/health/ready', { schema: { tags: ['health'] } }, async function ready (_request, reply) {
    const [database, revocations] = await Promise.all([
      app.db.ping().then(() => 'up', () => 'down'),
      // Up only when the mirror is trusted: synced and hearing every change.
      app.revocations.ping().then(() => app.revocations.trusted ? 'up' : 'syncing', () => 'down')
    ])
    if (database === 'down') databaseDownSince ??= Date.now()
    else databaseDownSince = undefined
    const ok = database === 'up' && revocations === 'up'
    reply.code(ok ? 200 : 503)
    const body: Record<string, unknown> = { status: ok ? 'ok' : 'unavailable', database, revocations, revocationBackend: app.revocations.backendName }
    if (!ok) {
      body.downSince = {
        ...(databaseDownSince !== undefined ? { database: new Date(databaseDownSince).toISOString() } : {}),
        ...(revocations !== 'up' ? { revocations: new Date(app.revocations.trusted ? Date.now() : app.revocations.since).toISOString() } : {})
      }
    }
    return body
  })
}
