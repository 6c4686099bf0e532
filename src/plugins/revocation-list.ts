// The per-instance revocation mirror, fed by Redis (REDIS_URL) or held in
// process, and re-read from PostgreSQL's durable record on every full sync.
import fp from 'fastify-plugin'
import { createRevocationList, createMemoryBackend, type RevocationEntry, type RevocationList } from '../services/revocation-list.ts'
import { createRedisBackend } from '../services/redis-revocations.ts'

export default fp(async function revocationListPlugin (app, opts: { redisUrl?: string, redisPrefix?: string, accessTtl: number, startupWaitMs?: number }) {
  const ttlMs = opts.accessTtl * 1000
  const backend = opts.redisUrl !== undefined ? createRedisBackend(opts.redisUrl, opts.redisPrefix) : createMemoryBackend()
  if (opts.redisUrl === undefined) {
    app.log.warn('REDIS_URL is not set: revocations are held in process, which is right for a single instance only')
  }
  async function loadDurable (): Promise<RevocationEntry[]> {
    const since = new Date(Date.now() - ttlMs)
    const [sessions, users] = await Promise.all([
      app.prisma.session.findMany({ where: { revokedAt: { gt: since } }, select: { id: true, revokedAt: true } }),
      app.prisma.user.findMany({ where: { tokensValidAfter: { gt: since } }, select: { id: true, tokensValidAfter: true } })
    ])
    return [
      ...sessions.map((s) => ({ kind: 'session' as const, id: s.id, until: (s.revokedAt as Date).getTime() + ttlMs })),
      ...users.map((u) => ({ kind: 'user' as const, id: u.id, before: (u.tokensValidAfter as Date).getTime(), until: (u.tokensValidAfter as Date).getTime() + ttlMs }))
    ]
  }
  const list = createRevocationList({
    backend,
    loadDurable,
    onStateChange (trusted, reason) {
      if (trusted) app.log.info({ backend: backend.name }, 'revocation mirror synced')
      else app.log.warn({ backend: backend.name, reason }, 'revocation mirror cannot be trusted: failing closed')
    }
  })
  await list.start()
  // Start-up waits briefly for the first sync; afterwards the service answers 503 until it lands.
  await list.waitUntilTrusted(opts.startupWaitMs ?? 5000)
  app.decorate('revocations', list)
  app.addHook('onClose', async () => { await list.close() })
}, { name: 'revocation-list', dependencies: ['db'] })

declare module 'fastify' {
  interface FastifyInstance {
    revocations: RevocationList
  }
}
