// Builds the real app for a test: PGlite or a fresh PostgreSQL database, the
// in-process store or real Redis; closed (and the database dropped) on teardown.
import type { FastifyInstance } from 'fastify'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import app from '../../src/app.ts'
import { loadConfig, type Config } from '../../src/config.ts'
import { openPGlite, openPostgres } from '../../src/db/database.ts'
import { createServer } from '../../src/server-options.ts'
import { postgresForSuite, redisForSuite, type RedisServer } from './servers.ts'

export type Backend = 'embedded' | 'real'
export const backends: Backend[] = ['embedded', 'real']

export interface TestApp {
  app: FastifyInstance
  config: Config
  redis?: RedisServer
  databaseUrl?: string
  close: () => Promise<void>
}

interface Teardown { teardown: (fn: () => unknown) => void }

// One key-encryption secret for every test app: instances sharing a database share their managed keys.
export const testEnv = { BCRYPT_COST: '4', RATE_LIMIT: 'off', COOKIE_SECURE: 'false', LOG_LEVEL: 'silent', HASH_WORKERS: '1', KEY_ENCRYPTION_SECRET: 'test-key-encryption-0123456789abcdef' }

export async function buildApp (t: Teardown, opts: {
  backend: Backend
  env?: Record<string, string>
  /** Share these with another app (several instances). */
  databaseUrl?: string
  redis?: RedisServer
  dataDir?: string
  logger?: object
  /** Key prefix in Redis, for apps that reach it through REDIS_SENTINELS (share it to share state). */
  redisPrefix?: string
} = { backend: 'embedded' }): Promise<TestApp> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'auth-test-'))
  let databaseUrl = opts.databaseUrl
  let redis = opts.redis
  let drop: (() => Promise<void>) | undefined
  if (opts.backend === 'real') {
    if (databaseUrl === undefined) {
      const pg = await postgresForSuite()
      databaseUrl = pg.url
      drop = pg.drop
    }
    // Through Sentinels (env REDIS_SENTINELS) or a cluster (REDIS_CLUSTER_NODES), there is no REDIS_URL.
    if (opts.env?.REDIS_SENTINELS === undefined && opts.env?.REDIS_CLUSTER_NODES === undefined) redis ??= await redisForSuite()
  }
  const config = loadConfig({
    ...testEnv,
    DATA_DIR: dataDir,
    ...(databaseUrl !== undefined ? { DATABASE_URL: databaseUrl } : {}),
    ...(redis !== undefined ? { REDIS_URL: redis.url } : {}),
    ...opts.env
  })
  const db = databaseUrl !== undefined ? await openPostgres(databaseUrl) : await openPGlite(undefined)
  const server = createServer(config, opts.logger !== undefined ? { logger: opts.logger } : { logger: false })
  try {
    await server.register(app, { config, db, redisPrefix: opts.redisPrefix ?? redis?.prefix })
    await server.ready()
  } catch (err) {
    // A start-up that fails (a test of exactly that) leaves nothing open.
    await server.close().catch(() => {})
    await db.close().catch(() => {})
    await drop?.()
    throw err
  }
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await server.close()
    await drop?.()
  }
  t.teardown(close)
  return { app: server, config, redis, databaseUrl, close }
}
