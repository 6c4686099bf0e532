// Applies the migrations to PostgreSQL in a child process that ends when they
// are applied. Prisma's schema engine is WebAssembly that its module keeps
// alive: run in the service's own process it stays for good after one use at
// start-up (about 10 MB), and a worker thread leaves most of that behind too
// (glibc keeps the thread's heap). Measured with bench/rss-probe.ts.
import pg from 'pg'
import { PrismaPg } from '@prisma/adapter-pg'
import { applyMigrations } from './schema-engine.ts'

export interface MigrateJob { url: string, lockKey: number }
export type MigrateResult = { applied: string[] } | { error: string }

async function migrate ({ url, lockKey }: MigrateJob): Promise<string[]> {
  const pool = new pg.Pool({ connectionString: url, max: 3, connectionTimeoutMillis: 2000 })
  pool.on('error', () => {})
  try {
    const lock = await pool.connect()
    try {
      // Instances starting together queue here; the later ones find nothing pending.
      await lock.query('SELECT pg_advisory_lock($1)', [lockKey])
      return await applyMigrations(new PrismaPg(pool))
    } finally {
      await lock.query('SELECT pg_advisory_unlock($1)', [lockKey]).catch(() => {})
      lock.release()
    }
  } finally {
    await pool.end()
  }
}

// The job comes over the IPC channel, not argv: the URL may hold a password.
process.once('message', (job: MigrateJob) => {
  migrate(job).then(
    (applied): MigrateResult => ({ applied }),
    (err: unknown): MigrateResult => ({ error: err instanceof Error ? err.message : String(err) })
  ).then((result) => process.send!(result, () => process.disconnect()))
})
