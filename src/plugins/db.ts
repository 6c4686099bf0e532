// The database as a decorator, opened and migrated at registration, closed on shutdown.
import fp from 'fastify-plugin'
import type { Database } from '../db/database.ts'

export default fp(async function dbPlugin (app, opts: { db: Database, migrate: boolean }) {
  if (opts.migrate) {
    const applied = await opts.db.migrate()
    if (applied.length > 0) app.log.info({ applied }, 'database migrations applied')
  }
  app.decorate('db', opts.db)
  app.decorate('prisma', opts.db.prisma)
  app.addHook('onClose', async () => { await opts.db.close() })
}, { name: 'db' })

declare module 'fastify' {
  interface FastifyInstance {
    db: Database
    prisma: Database['prisma']
  }
}
