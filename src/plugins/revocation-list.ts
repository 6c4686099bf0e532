// The per-instance revocation mirror, fed by Redis (REDIS_URL) or held in
// process, and re-read from PostgreSQL's durable record on every full sync
// and for recent changes every few seconds.
import fp from 'fastify-plugin'
import { createRevocationList, createMemoryBackend, type RevocationList } from '../revocation/mirror.ts'
import { createRedisBackend } from '../revocation/redis-backend.ts'
import { loadDurableRevocations } from '../revocation/user-revocation.ts'
import { createRevocationStore } from '../revocation/store.ts'
import type { RevocationEntry } from '../revocation/mirror.ts'
import type { RedisTarget } from '../db/redis.ts'

export default fp(async function revocationListPlugin (app, opts: { redis?: RedisTarget, redisPrefix?: string, startupWaitMs?: number, pollIntervalMs?: number }) {
  const backend = opts.redis !== undefined ? createRedisBackend(opts.redis, opts.redisPrefix) : createMemoryBackend()
  if (opts.redis === undefined) {
    app.log.warn('REDIS_URL is not set: revocations are held in process, which is right for a single instance only')
  }
  const record = createRevocationStore({ prisma: app.prisma })
  const since = (from?: Date) => loadDurableRevocations(record, from)
  const list = createRevocationList({
    backend,
    loadDurable: since,
    pollIntervalMs: opts.pollIntervalMs,
    onStateChange (trusted, reason) {
      if (trusted) app.log.info({ backend: backend.name }, 'revocation mirror synced')
      else app.log.warn({ backend: backend.name, reason }, 'revocation mirror cannot be trusted: failing closed')
    }
  })
  await list.start()
  // Start-up waits briefly for the first sync; afterwards the service answers 503 until it lands.
  await list.waitUntilTrusted(opts.startupWaitMs ?? 5000)
  app.decorate('revocations', list)
  app.decorate('revocationRecord', { since })
  app.addHook('onClose', async () => { await list.close() })
}, { name: 'revocation-list', dependencies: ['db'] })

declare module 'fastify' {
  interface FastifyInstance {
    revocations: RevocationList
    /** The durable record in PostgreSQL: what was revoked since a time (the feed reads it). */
    revocationRecord: { since: (from?: Date) => Promise<RevocationEntry[]> }
  }
}
