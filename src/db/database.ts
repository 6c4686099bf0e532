// The database behind one small interface: PostgreSQL through @prisma/adapter-pg
// when DATABASE_URL is set, embedded PGlite under DATA_DIR otherwise.
import { mkdir } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { createFromTemplate, PGLITE_SHARED_BUFFERS } from './pglite-template.ts'
import { extname, join } from 'node:path'
import { fork } from 'node:child_process'
import type pg from 'pg'
import type { PGlite } from '@electric-sql/pglite'
import { PrismaClient } from '../generated/prisma/client.ts'
import { applyMigrations, readMigrations } from './schema-engine.ts'
import type { MigrateJob, MigrateResult } from './migrate-worker.ts'
import { lockDataDir } from './data-dir-lock.ts'
import { LOCKS } from './locks.ts'

export interface Database {
  kind: 'postgresql' | 'pglite'
  prisma: PrismaClient
  /**
   * A hot statement straight to the driver, skipping Prisma's query layer
   * (about a sixth of a refresh's CPU, measured with bench/profile.ts). On
   * PostgreSQL it is prepared once per connection under `name`. Rows come as
   * the driver parses them: timestamptz as Date, arrays as arrays.
   */
  query: <Row>(statement: Statement, values: unknown[]) => Promise<Row[]>
  /** Applies pending migrations; returns the names it applied. */
  migrate: () => Promise<string[]>
  ping: () => Promise<void>
  /** Connections of the pool (PostgreSQL only). */
  poolStats?: () => { total: number, idle: number, waiting: number }
  close: () => Promise<void>
}

export interface Statement { name: string, text: string }

// Each backend's driver is imported only when it is the one opened: the other
// would only take memory (measured with bench/rss-probe.ts).
function pgPool (Pool: typeof pg.Pool, url: string, max: number): pg.Pool {
  const pool = new Pool({
    connectionString: url,
    max,
    // Fail fast while PostgreSQL is down: a request gets 503, not a hang.
    connectionTimeoutMillis: 2000,
    statement_timeout: 5000,
    // Connections, once opened, stay open. Closing idle ones (pg's default
    // after 10 s) made a burst pay for new backends: fork, authentication, a
    // cold catalog cache and re-preparing the hot statements. Measured with
    // bench/paced.ts at 500 refreshes/s: stalls of 100 ms and more.
    min: max
  })
  pool.on('error', () => {}) // an idle client lost its server: the pool replaces it
  return pool
}

export async function openPostgres (url: string): Promise<Database> {
  const [{ default: { Pool } }, { PrismaPg }] = await Promise.all([import('pg'), import('@prisma/adapter-pg')])
  const pool = pgPool(Pool, url, 10)
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) })
  return {
    kind: 'postgresql',
    prisma,
    async query<Row> (statement: Statement, values: unknown[]) {
      return (await pool.query({ name: statement.name, text: statement.text, values })).rows as Row[]
    },
    migrate: () => migrateInChildProcess({ url, lockKey: LOCKS.migrations }),
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    async ping () { await pool.query('SELECT 1') },
    async close () {
      await prisma.$disconnect()
      await pool.end()
    }
  }
}

// In a child process that exits when done (see migrate-worker.ts). The script
// is this file's sibling, as source (.ts) or as built (.js). It needs none
// of this process's Node flags, and must not get them: under node -e they
// hold the inline script, which the child would run instead of its own.
function migrateInChildProcess (job: MigrateJob): Promise<string[]> {
  const child = fork(new URL(`./migrate-worker${extname(import.meta.url)}`, import.meta.url), { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  child.send(job)
  return new Promise((resolve, reject) => {
    child.once('message', (result: MigrateResult) => {
      if ('applied' in result) resolve(result.applied)
      else reject(new Error(result.error))
    })
    child.once('error', reject)
    // After a result this changes nothing: a promise settles once.
    child.once('exit', (code) => reject(new Error(`the migration process exited (code ${code}) without a result`)))
  })
}

export { PGLITE_SHARED_BUFFERS }

/** `holder` says what this process is, for the sentence another process gets while this one holds `dataDir`. */
export async function openPGlite (dataDir: string | undefined, holder = `process ${process.argv.slice(1).join(' ')}`): Promise<Database> {
  const [{ PGlite }, { PrismaPGlite }] = await Promise.all([import('@electric-sql/pglite'), import('pglite-prisma-adapter')])
  // PostgreSQL's default 128 MB of shared buffers is memory this process
  // would hold (PGlite's PostgreSQL is WebAssembly in the same process); one
  // embedded instance's data needs far less, and its files stay in the
  // kernel's page cache. ~120 MB less RSS (README, Performance).
  const options = { postgresqlconf: [`shared_buffers=${PGLITE_SHARED_BUFFERS}`] }
  let pglite: PGlite
  let lock: { release: () => void } | undefined
  if (dataDir === undefined) {
    pglite = new PGlite(options)
  } else {
    await mkdir(dataDir, { recursive: true })
    lock = lockDataDir(dataDir, holder)
    const pgdata = join(dataDir, 'pgdata')
    try {
      // A first start copies a template instead of running initdb here (pglite-template.ts).
      // With no template to be had, PGlite's own initdb makes it below.
      if (!existsSync(pgdata)) await createFromTemplate(pgdata)
    } catch (err) {
      lock.release()
      throw err
    }
    pglite = new PGlite(pgdata, options)
  }
  try {
    await pglite.waitReady
  } catch (err) {
    lock?.release()
    throw err
  }
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite) })
  // PGlite runs a statement synchronously on this thread, and statements
  // queued together (eight logins arriving at once) would run back to back in
  // one chain of promise callbacks, each starting as the last one ends: the
  // event loop held for all of them (35 ms measured; every token check
  // waiting behind it). The hot statements take turns instead: one at a time,
  // with a turn of the event loop before each, so requests that arrived
  // meanwhile are answered between two statements.
  let tail: Promise<unknown> = Promise.resolve()
  const aTurn = () => new Promise<void>((resolve) => setImmediate(resolve))
  return {
    kind: 'pglite',
    prisma,
    query<Row> (statement: Statement, values: unknown[]) {
      const run = tail.then(aTurn).then(() => pglite.query<Row>(statement.text, values))
      tail = run.catch(() => {})
      return run.then((result) => result.rows)
    },
    async migrate () {
      // Nothing pending (every start but those after an upgrade): the schema
      // engine, tens of MB of WebAssembly, is not even loaded.
      if (await allApplied(pglite)) return []
      return applyMigrations(new PrismaPGlite(pglite))
    },
    async ping () { await pglite.query('SELECT 1') },
    async close () {
      await prisma.$disconnect()
      await pglite.close()
      lock?.release()
    }
  }
}

/** Whether every migration of prisma/migrations is recorded as applied. */
async function allApplied (pglite: PGlite): Promise<boolean> {
  const wanted = (await readMigrations()).migrationDirectories.map((m) => m.path)
  try {
    const rows = (await pglite.query<{ name: string }>('SELECT migration_name AS name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL')).rows
    const applied = new Set(rows.map((r) => r.name))
    return wanted.every((name) => applied.has(name))
  } catch {
    return false // no migrations table yet
  }
}

export function openDatabase (config: { databaseUrl?: string, dataDir: string }, holder?: string): Promise<Database> {
  return config.databaseUrl !== undefined ? openPostgres(config.databaseUrl) : openPGlite(config.dataDir, holder)
}
