// The database behind one small interface: PostgreSQL through @prisma/adapter-pg
// when DATABASE_URL is set, embedded PGlite under DATA_DIR otherwise.
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import pg from 'pg'
import { PGlite } from '@electric-sql/pglite'
import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaPGlite } from 'pglite-prisma-adapter'
import { PrismaClient } from '../generated/prisma/client.ts'
import { openSchemaEngine, readMigrations, noFilters } from './schema-engine.ts'

export interface Database {
  kind: 'postgresql' | 'pglite'
  prisma: PrismaClient
  /** Applies pending migrations; returns the names it applied. */
  migrate: () => Promise<string[]>
  ping: () => Promise<void>
  close: () => Promise<void>
}

// Any constant works; it only has to be the same for every instance.
const MIGRATION_LOCK_KEY = 7_340_220_911

function pgPool (url: string, max: number): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    // Fail fast while PostgreSQL is down: a request gets 503, not a hang.
    connectionTimeoutMillis: 2000,
    statement_timeout: 5000,
    idleTimeoutMillis: 10_000
  })
  pool.on('error', () => {}) // an idle client lost its server: the pool replaces it
  return pool
}

export async function openPostgres (url: string): Promise<Database> {
  const pool = pgPool(url, 10)
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) })
  return {
    kind: 'postgresql',
    prisma,
    async migrate () {
      const lock = await pool.connect()
      const enginePool = pgPool(url, 2)
      try {
        // Instances starting together queue here; the later ones find nothing pending.
        await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY])
        const engine = await openSchemaEngine(new PrismaPg(enginePool))
        try {
          const out = await engine.applyMigrations({ migrationsList: await readMigrations(), filters: noFilters })
          return out.appliedMigrationNames
        } finally {
          engine.free()
        }
      } finally {
        await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {})
        lock.release()
        await enginePool.end()
      }
    },
    async ping () { await pool.query('SELECT 1') },
    async close () {
      await prisma.$disconnect()
      await pool.end()
    }
  }
}

export async function openPGlite (dataDir: string | undefined): Promise<Database> {
  let pglite: PGlite
  if (dataDir === undefined) {
    pglite = new PGlite()
  } else {
    await mkdir(dataDir, { recursive: true })
    pglite = new PGlite(join(dataDir, 'pgdata'))
  }
  await pglite.waitReady
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite) })
  return {
    kind: 'pglite',
    prisma,
    async migrate () {
      const engine = await openSchemaEngine(new PrismaPGlite(pglite))
      try {
        const out = await engine.applyMigrations({ migrationsList: await readMigrations(), filters: noFilters })
        return out.appliedMigrationNames
      } finally {
        engine.free()
      }
    },
    async ping () { await pglite.query('SELECT 1') },
    async close () {
      await prisma.$disconnect()
      await pglite.close()
    }
  }
}

export function openDatabase (config: { databaseUrl?: string, dataDir: string }): Promise<Database> {
  return config.databaseUrl !== undefined ? openPostgres(config.databaseUrl) : openPGlite(config.dataDir)
}
