// Figure 9, the service at a million users (SCALE_USERS, default 1,000,000),
// on PostgreSQL + Redis: seeded with COPY (bench/scale-seed.ts), not the API:
// the users (all with one precomputed bcrypt hash at cost 4, reused), one
// live session with its refresh token each, a fifth as many sessions ended
// within the last hour and a hundredth as many user-wide revocations in
// force (200,000 and 10,000 at a million), in PostgreSQL and in Redis as the
// service writes them. Its baseline in the same run is a second database
// seeded alike with only what the measured requests use (as many users and
// sessions as refreshes are made), served by a second instance; rounds
// alternate between the two. The services run with BCRYPT_COST=4, so that a
// login measures the database, not bcrypt.
// - 9a, an instance's start: the revocation mirror's full load (Redis and
//   PostgreSQL, in this process: time and V8 heap it keeps, per entry).
//   Targets: < 5 s, < 100 MB. Also the services' time to ready and RSS.
// - 9b, login (100/s) and refresh (500/s, each a fresh session's token)
//   p99 at a fixed rate (bench/paced.ts), at scale against the baseline:
//   within 1.5x; /auth/me saturation throughput at scale / baseline >= 0.9.
// - 9c, GET /admin/users: the first page and a deep page (a cursor 90% of
//   the way in), 100 users each, alternated: deep p50 within 1.5x of the first.
// - 9d, the prune of a day's worth of expired rows (SCALE_USERS/20 sessions
//   expired two days ago with a token each, SCALE_USERS/2 spent refresh
//   tokens expired within the day) while refreshes run at 500/s: p99 of a
//   round during the prune < 2x the rounds around it, and the prune done.
// - 9e, bcrypt: one comparison at cost 12 and at 4 on one core (the input of
//   docs/scaling.md's arithmetic).
// A missed target prints the profile (the load's parts) or the EXPLAIN of the
// statements behind it.
import bcrypt from 'bcryptjs'
import { createHash } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { Redis } from 'ioredis'
import { openPostgres } from '../../src/db/database.ts'
import { createRevocationList, revocationHorizon } from '../../src/revocation/mirror.ts'
import { createRedisBackend } from '../../src/revocation/redis-backend.ts'
import { createRevocationStore } from '../../src/revocation/store.ts'
import { loadDurableRevocations } from '../../src/revocation/user-revocation.ts'
import { createSessionStore } from '../../src/sessions/store.ts'
import { createAccountStore } from '../../src/accounts/store.ts'
import { createPasswordHasher } from '../../src/passwords/hasher.ts'
import { postgresForSuite, startOwnRedis } from '../../test/helpers/servers.ts'
import { bearer, cpus, FIXED_RATE_SECONDS, median, post, ROUNDS, saturate, startService, type Row } from '../common.ts'
import { paced, type PacedResult } from '../paced.ts'
import { buildOnce, cpuMs, peakMbOf, rssMb, type Service } from '../service.ts'
import { SCALE_PASSWORD, seedExpired, seedRedisRevocations, seedScale, type ScaleNames } from '../scale-seed.ts'

export const SCALE_USERS = Number(process.env.SCALE_USERS ?? 1_000_000)
const LOGIN_RATE = 100
const REFRESH_RATE = 500
const PRUNE_SECONDS = 12
const PAGE = 100
const ADMIN = { username: 'scale_admin', password: 'a scale admin passphrase' }
// Redis databases of the two instances when REDIS_URL is given (each keeps its own revocation keys).
const REDIS_DB = { scale: 13, base: 14 }

export interface Figure9 {
  users: number
  revokedSessions: number
  userRevocations: number
  seedSeconds: number
  /** The machine's load average (1 min) at the start and the end: other work on it. */
  load: number[]
  mirror: { loadMs: number, heapMb: number, bytesPerEntry: number, entries: number, redisMs: number, redisEntries: number, durableMs: number, durableEntries: number }
  start: { scaleMs: number, baseMs: number, scaleRssMb: number, baseRssMb: number, scalePeakMb: number, basePeakMb: number, maxCostScanMs: number }
  login: Pair
  refresh: Pair
  me: { scale: number, base: number, ratio: number }
  admin: { firstP50: number, firstP99: number, deepP50: number, deepP99: number, baseFirstP50: number }
  prune: { withoutP99: number[], duringP99: number, ms: number, sessions: number, tokens: number, error?: string, failed: number }
  bcrypt: { cost12Ms: number, cost4Ms: number }
  explain: string[]
}

interface Pair { scale: number, base: number, scaleRounds: number[], baseRounds: number[], non2xx: number, ratio: number, cost: Cost, baseCost: Cost }
/** What one request cost at scale (medians of the rounds): the service's CPU, its PostgreSQL backends' CPU, WAL written (server-wide). */
interface Cost { serviceUs: number, postgresUs: number, walBytes: number, fullPages: number }
type Measured = PacedResult & { cost?: Cost }

/**
 * The CPU a round cost the service and the PostgreSQL backends serving its
 * database (their processes are on this machine: /proc), and the WAL the
 * server wrote meanwhile (other databases' writes included), per answered request.
 */
async function withCost (pid: number, dbUrl: string, run: () => Promise<PacedResult>): Promise<Measured> {
  const c = new pg.Client({ connectionString: dbUrl })
  await c.connect()
  try {
    const backends = (await c.query('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()')).rows.map((r) => r.pid as number)
    const pgCpu = () => backends.reduce((sum, p) => { try { return sum + cpuMs(p) } catch { return sum } }, 0)
    // Full-page images: the first change of a page after a checkpoint writes all 8 kB of it to the WAL.
    const wal = async () => { const row = (await c.query('SELECT pg_current_wal_lsn() - \'0/0\'::pg_lsn AS b, (SELECT wal_fpi FROM pg_stat_wal) AS fpi')).rows[0]; return { bytes: Number(row.b), fpi: Number(row.fpi) } }
    const [svc0, pg0, wal0] = [cpuMs(pid), pgCpu(), await wal()]
    const r = await run()
    const [svc1, pg1, wal1] = [cpuMs(pid), pgCpu(), await wal()]
    const ok = Math.max(1, r.ok)
    const per = (x: number) => Math.round(x * 1000 / ok)
    return { ...r, cost: { serviceUs: per(svc1 - svc0), postgresUs: per(pg1 - pg0), walBytes: Math.round((wal1.bytes - wal0.bytes) / ok), fullPages: Math.round((wal1.fpi - wal0.fpi) / ok * 100) / 100 } }
  } finally {
    await c.end()
  }
}

/** Rows i of 0..n-1 in a scattered order (a stride coprime to n), so that requests hit the whole table. */
function scattered (n: number) {
  const gcd = (a: number, b: number): number => b === 0 ? a : gcd(b, a % b)
  let stride = 7919
  while (gcd(stride, n) !== 1) stride += 2
  let k = 0
  return () => { if (k >= n) throw new Error('figure 9 ran out of seeded sessions: raise SCALE_USERS'); return (k++ * stride) % n }
}

const ms = (t0: number) => Math.round(performance.now() - t0)

function quantile (xs: number[], q: number) {
  const s = [...xs].sort((a, b) => a - b)
  return Math.round(s[Math.min(s.length - 1, Math.floor(s.length * q))] * 100) / 100
}

async function redisFor (base: string, db: number): Promise<string> {
  const url = new URL(base)
  url.pathname = `/${db}`
  const r = new Redis(url.toString())
  try {
    const size = await r.dbsize()
    if (size !== 0) throw new Error(`figure 9 wants Redis database ${db} of ${base} empty (it holds ${size} keys): free it or point REDIS_URL elsewhere`)
  } finally {
    r.disconnect()
  }
  return url.toString()
}

async function dropKeys (url: string): Promise<void> {
  const r = new Redis(url)
  let cursor = '0'
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', 'auth:*', 'COUNT', 5000)
    cursor = next
    if (keys.length > 0) await r.unlink(...keys)
  } while (cursor !== '0')
  r.disconnect()
}

/** EXPLAIN of a statement on `url` (ANALYZE when `analyze`: read-only statements only). */
async function explain (url: string, title: string, text: string, values: unknown[], analyze: boolean): Promise<string> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    const rows = (await c.query({ text: `EXPLAIN (${analyze ? 'ANALYZE, BUFFERS, ' : ''}COSTS) ${text}`, values })).rows as Array<{ 'QUERY PLAN': string }>
    return `  EXPLAIN ${title}:\n${rows.map((r) => `    ${r['QUERY PLAN']}`).join('\n')}`
  } finally {
    await c.end()
  }
}

/** The statement a store function sends to the driver, caught on its way (values included). */
async function statementOf (url: string, run: (query: Parameters<typeof createAccountStore>[0]['query']) => Promise<unknown>) {
  const db = await openPostgres(url)
  let caught: { text: string, values: unknown[] } | undefined
  try {
    await run(async (statement, values) => { caught = { text: statement.text, values }; return await db.query(statement, values) })
  } finally {
    await db.close()
  }
  return caught!
}

/** The mirror's full load as an instance does it at start, in this process: time, and the heap it keeps. */
async function mirrorLoad (pgUrl: string, redisUrl: string): Promise<Figure9['mirror']> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('figure 9 needs node --expose-gc (npm run bench gives it)')
  const db = await openPostgres(pgUrl)
  const store = createRevocationStore({ prisma: db.prisma })
  await store.recordedSince(new Date()) // Prisma's first query (its compiler, the pool) is not the mirror's cost
  gc()
  const before = process.memoryUsage().heapUsed
  const t0 = performance.now()
  const list = createRevocationList({ backend: createRedisBackend(redisUrl), loadDurable: (since) => loadDurableRevocations(store, since), pollIntervalMs: 0 })
  await list.start()
  if (!await list.waitUntilTrusted(120_000)) throw new Error('the mirror did not load within 120 s')
  const loadMs = ms(t0)
  gc()
  const heap = process.memoryUsage().heapUsed - before
  const size = list.size()
  const entries = size.sessions + size.users
  // Its parts, one at a time: the profile of a missed target.
  let t = performance.now()
  const remote = await list.backend.load()
  const redisMs = ms(t)
  t = performance.now()
  const durable = await loadDurableRevocations(store)
  const durableMs = ms(t)
  await list.close()
  await db.close()
  return { loadMs, heapMb: Math.round(heap / 1048576 * 10) / 10, bytesPerEntry: Math.round(heap / entries), entries, redisMs, redisEntries: remote.length, durableMs, durableEntries: durable.length }
}

async function timedStart (env: Record<string, string>): Promise<{ svc: Service, ms: number }> {
  const t0 = performance.now()
  const svc = await startService(env)
  return { svc, ms: ms(t0) }
}

async function loginAs (base: string, username: string, password: string): Promise<string> {
  const r = await post(base, '/auth/login', { username, password })
  if (r.status !== 200) throw new Error(`login of ${username} failed: ${JSON.stringify(r.body)}`)
  return (r.body as { access_token: string }).access_token
}

/** Rounds of the two sides alternated (a warm-up of each first); medians of p99. */
async function alternate (round: (side: 'scale' | 'base') => Promise<Measured>): Promise<Pair> {
  await round('scale')
  await round('base')
  const s: Measured[] = []
  const b: Measured[] = []
  for (let i = 0; i < ROUNDS; i++) {
    s.push(await round('scale'))
    b.push(await round('base'))
  }
  const scale = median(s.map((r) => r.p99))
  const base = median(b.map((r) => r.p99))
  const costOf = (rs: Measured[]) => ({ serviceUs: median(rs.map((r) => r.cost!.serviceUs)), postgresUs: median(rs.map((r) => r.cost!.postgresUs)), walBytes: median(rs.map((r) => r.cost!.walBytes)), fullPages: median(rs.map((r) => r.cost!.fullPages)) })
  return { scale, base, scaleRounds: s.map((r) => r.p99), baseRounds: b.map((r) => r.p99), non2xx: [...s, ...b].reduce((n, r) => n + r.failed, 0), ratio: scale / base, cost: costOf(s), baseCost: costOf(b) }
}

async function timeRequests (url: string, headers: Record<string, string>): Promise<number> {
  const t0 = performance.now()
  const r = await fetch(url, { headers })
  await r.arrayBuffer()
  if (r.status !== 200) throw new Error(`${url}: ${r.status}`)
  return performance.now() - t0
}

export async function scaleFigure (log: (line: string) => void = console.error): Promise<Figure9> {
  const users = SCALE_USERS
  const spec = { users, revokedSessions: Math.round(users / 5), userRevocations: Math.round(users / 100) }
  const refreshesB = (ROUNDS + 1) * REFRESH_RATE * FIXED_RATE_SECONDS
  const refreshesD = 3 * REFRESH_RATE * PRUNE_SECONDS
  if (users < refreshesB + refreshesD) throw new Error(`SCALE_USERS must be at least ${refreshesB + refreshesD} (a fresh session for every refresh measured)`)
  const explains: string[] = []
  const load = [loadavg()[0]]
  const cleanups: Array<() => Promise<void>> = []
  const services: Service[] = []
  try {
    buildOnce()
    // --- the databases --------------------------------------------------
    const scaleDb = await postgresForSuite()
    cleanups.push(scaleDb.drop)
    const baseDb = await postgresForSuite()
    cleanups.push(baseDb.drop)
    let redisBase = process.env.REDIS_URL
    if (redisBase === undefined) { const own = await startOwnRedis(); redisBase = own.url; cleanups.push(own.stop) }
    const scaleRedis = await redisFor(redisBase, REDIS_DB.scale)
    const baseRedis = await redisFor(redisBase, REDIS_DB.base)
    cleanups.push(() => dropKeys(scaleRedis), () => dropKeys(baseRedis))
    for (const url of [scaleDb.url, baseDb.url]) { const db = await openPostgres(url); await db.migrate(); await db.close() }
    const hasher = createPasswordHasher({ cost: 4, workers: 1 })
    const passwordHash = await hasher.hash(SCALE_PASSWORD)
    await hasher.close()
    log(`figure 9: seeding ${users.toLocaleString('en')} users with COPY (one bcrypt hash, cost 4, for all)`)
    const t0 = performance.now()
    const seeded = await seedScale(scaleDb.url, spec, passwordHash, log)
    const keys = await seedRedisRevocations(scaleRedis, seeded)
    const seedSeconds = Math.round((performance.now() - t0) / 100) / 10
    log(`  Redis: ${keys.toLocaleString('en')} revocation keys; seeded in ${seedSeconds} s`)
    const baseUsers = refreshesB + 1000
    const baseSeeded = await seedScale(baseDb.url, { users: baseUsers, revokedSessions: 0, userRevocations: 0 }, passwordHash)

    // --- 9a: the mirror's load, and each instance's start ----------------
    log('figure 9a: the revocation mirror\'s load at start')
    const mirror = await mirrorLoad(scaleDb.url, scaleRedis)
    if (mirror.loadMs >= 5000 || mirror.heapMb >= 100) {
      explains.push(`  the load's parts: Redis SCAN + MGET ${mirror.redisMs} ms (${mirror.redisEntries} entries), PostgreSQL ${mirror.durableMs} ms (${mirror.durableEntries} entries)`)
      const horizon = revocationHorizon()
      explains.push(await explain(scaleDb.url, 'the durable load (sessions)', 'SELECT id, "revokedAt" FROM "Session" WHERE "revokedAt" >= $1', [horizon], true))
    }
    const maxCost = await statementOf(scaleDb.url, (query) => createAccountStore({ prisma: undefined as never, query }).maxStoredCost())
    let t = performance.now()
    const mc = new pg.Client({ connectionString: scaleDb.url })
    await mc.connect()
    await mc.query({ text: maxCost.text, values: maxCost.values })
    const maxCostScanMs = ms(t)
    await mc.end()
    const env = (url: string, redis: string) => ({ DATABASE_URL: url, REDIS_URL: redis, BCRYPT_COST: '4', DATA_DIR: mkdtempSync(join(tmpdir(), 'auth-bench-scale-')), ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password })
    const scaleStart = await timedStart(env(scaleDb.url, scaleRedis))
    services.push(scaleStart.svc)
    const baseStart = await timedStart(env(baseDb.url, baseRedis))
    services.push(baseStart.svc)
    const scale = scaleStart.svc
    const base = baseStart.svc
    const start = {
      scaleMs: scaleStart.ms,
      baseMs: baseStart.ms,
      scaleRssMb: Math.round(rssMb(scale.proc.pid!)),
      baseRssMb: Math.round(rssMb(base.proc.pid!)),
      scalePeakMb: Math.round(peakMbOf(scale.proc.pid!)),
      basePeakMb: Math.round(peakMbOf(base.proc.pid!)),
      maxCostScanMs
    }

    // --- 9b: login and refresh at a fixed rate; /auth/me ------------------
    log('figure 9b: login and refresh at a fixed rate, at scale and on the baseline')
    const side = { scale: { svc: scale, names: seeded.names, next: scattered(users) }, base: { svc: base, names: baseSeeded.names, next: scattered(baseUsers) } }
    const pick = (names: ScaleNames) => Math.floor(Math.random() * names.users)
    const measured = (s: 'scale' | 'base', run: () => Promise<PacedResult>) => withCost(side[s].svc.proc.pid!, s === 'scale' ? scaleDb.url : baseDb.url, run)
    const login = await alternate((s) => measured(s, () => paced({
      base: side[s].svc.base,
      rate: LOGIN_RATE,
      seconds: FIXED_RATE_SECONDS,
      connections: 20,
      request: () => ({ method: 'POST', path: '/auth/login', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify({ username: side[s].names.username(pick(side[s].names)), password: SCALE_PASSWORD }) })
    })))
    const refreshRound = (s: 'scale' | 'base', seconds = FIXED_RATE_SECONDS) => paced({
      base: side[s].svc.base,
      rate: REFRESH_RATE,
      seconds,
      connections: 50,
      request: () => ({ method: 'POST', path: '/auth/refresh', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify({ refresh_token: side[s].names.refreshToken(side[s].next()) }) })
    })
    const refresh = await alternate((s) => measured(s, () => refreshRound(s)))
    log('figure 9b: /auth/me throughput')
    const tokens = { scale: await loginAs(scale.base, seeded.names.username(0), SCALE_PASSWORD), base: await loginAs(base.base, baseSeeded.names.username(0), SCALE_PASSWORD) }
    const meRound = async (s: 'scale' | 'base') => {
      const r = await saturate(`${side[s].svc.base}/auth/me`, bearer(tokens[s]))
      if (r.non2xx > 0) throw new Error('GET /auth/me answered non-2xx')
      return r.requests.average
    }
    await meRound('scale')
    await meRound('base')
    const meS: number[] = []
    const meB: number[] = []
    for (let i = 0; i < ROUNDS; i++) { meS.push(await meRound('scale')); meB.push(await meRound('base')) }
    const me = { scale: Math.round(median(meS)), base: Math.round(median(meB)), ratio: median(meS) / median(meB) }
    if (login.ratio > 1.5) {
      const s = await statementOf(scaleDb.url, (query) => createAccountStore({ prisma: undefined as never, query }).findForLogin(seeded.names.username(pick(seeded.names))))
      explains.push(await explain(scaleDb.url, 'the login\'s lookup', s.text, s.values, true))
    }
    if (refresh.ratio > 1.5) {
      const s = await statementOf(scaleDb.url, (query) => createSessionStore({ prisma: undefined as never, query }).lookup(createHash('sha256').update(seeded.names.refreshToken(side.scale.next())).digest('base64url')))
      explains.push(await explain(scaleDb.url, 'the refresh\'s lookup (the rotation reads the same join)', s.text, s.values, true))
    }

    // --- 9c: the admin list ----------------------------------------------
    log('figure 9c: GET /admin/users, first and deep page')
    const adminToken = { scale: await loginAs(scale.base, ADMIN.username, ADMIN.password), base: await loginAs(base.base, ADMIN.username, ADMIN.password) }
    const c = new pg.Client({ connectionString: scaleDb.url })
    await c.connect()
    const deepId = (await c.query('SELECT id FROM "User" ORDER BY id OFFSET $1 LIMIT 1', [Math.floor(users * 0.9)])).rows[0].id as string
    await c.end()
    const first = `${scale.base}/admin/users?limit=${PAGE}`
    const deep = `${first}&cursor=${Buffer.from(deepId).toString('base64url')}`
    const firstT: number[] = []
    const deepT: number[] = []
    const baseT: number[] = []
    for (let i = 0; i < 20; i++) { await timeRequests(first, bearer(adminToken.scale)); await timeRequests(deep, bearer(adminToken.scale)) }
    for (let i = 0; i < 200; i++) {
      firstT.push(await timeRequests(first, bearer(adminToken.scale)))
      deepT.push(await timeRequests(deep, bearer(adminToken.scale)))
      baseT.push(await timeRequests(`${base.base}/admin/users?limit=${PAGE}`, bearer(adminToken.base)))
    }
    const admin = { firstP50: quantile(firstT, 0.5), firstP99: quantile(firstT, 0.99), deepP50: quantile(deepT, 0.5), deepP99: quantile(deepT, 0.99), baseFirstP50: quantile(baseT, 0.5) }
    if (admin.deepP50 > 1.5 * admin.firstP50) {
      explains.push(await explain(scaleDb.url, 'the deep page', 'SELECT id, username FROM "User" WHERE id > $1::uuid ORDER BY id LIMIT $2', [deepId, PAGE + 1], true))
    }

    // --- 9d: the prune while refreshes run ----------------------------------
    const expired = { sessions: Math.round(users / 20), tokens: Math.round(users / 2) }
    log(`figure 9d: ${expired.sessions.toLocaleString('en')} expired sessions and ${expired.tokens.toLocaleString('en')} expired refresh tokens, pruned under 500 refreshes/s`)
    await seedExpired(scaleDb.url, seeded, expired)
    const pruner = await openPostgres(scaleDb.url)
    const sessionStore = createSessionStore({ prisma: pruner.prisma, query: pruner.query })
    await pruner.prisma.$queryRaw`SELECT 1`
    const before = await refreshRound('scale', PRUNE_SECONDS)
    const pruned: Partial<Figure9['prune']> = {}
    const running = new Promise<void>((resolve) => setTimeout(resolve, 1000)).then(async () => {
      const t1 = performance.now()
      try {
        const now = Date.now()
        const r = await sessionStore.prune(revocationHorizon(now), now)
        Object.assign(pruned, r)
      } catch (err) {
        pruned.error = (err as Error).message.split('\n').slice(-1)[0]
      }
      pruned.ms = ms(t1)
    })
    const during = await refreshRound('scale', PRUNE_SECONDS)
    await running
    const after = await refreshRound('scale', PRUNE_SECONDS)
    await pruner.close()
    const prune = { withoutP99: [before.p99, after.p99], duringP99: during.p99, ms: pruned.ms!, sessions: pruned.sessions ?? 0, tokens: pruned.tokens ?? 0, error: pruned.error, failed: before.failed + during.failed + after.failed }
    const pruneOk = prune.error === undefined && prune.duringP99 < 2 * Math.max(...prune.withoutP99)
    if (!pruneOk || prune.ms > 1000) {
      t = performance.now()
      explains.push(await explain(scaleDb.url, 'the prune\'s sessions (as Prisma sends it)', 'DELETE FROM "Session" WHERE ("revokedAt" < $1 OR "expiresAt" < $1)', [revocationHorizon()], false))
      explains.push(await explain(scaleDb.url, 'the prune\'s tokens (as Prisma sends it)', 'DELETE FROM "RefreshToken" WHERE "expiresAt" < $1', [new Date()], false))
    }

    // --- 9e: bcrypt on one core ----------------------------------------------
    const bcryptMs = async (cost: number, n: number) => {
      const h = await bcrypt.hash('x', cost)
      const times: number[] = []
      for (let i = 0; i < n; i++) { const t2 = performance.now(); bcrypt.compareSync('x', h); times.push(performance.now() - t2) }
      return Math.round(median(times) * 10) / 10
    }
    const bcryptFig = { cost12Ms: await bcryptMs(12, 7), cost4Ms: await bcryptMs(4, 50) }

    load.push(loadavg()[0])
    return { users, revokedSessions: spec.revokedSessions, userRevocations: spec.userRevocations, seedSeconds, load: load.map((x) => Math.round(x * 10) / 10), mirror, start, login, refresh, me, admin, prune, bcrypt: bcryptFig, explain: explains }
  } finally {
    for (const s of services) await s.stop()
    for (const c of cleanups.reverse()) await c().catch(() => {})
  }
}

const n = (x: number) => x.toLocaleString('en')
const pair = (p: Pair) => `${p.scale} vs ${p.base} ms = ${p.ratio.toFixed(2)}x (rounds ${p.scaleRounds.join('/')} vs ${p.baseRounds.join('/')}; ${p.non2xx} non-2xx)`
const cost = (p: Pair) => `service ${p.cost.serviceUs} vs ${p.baseCost.serviceUs} µs CPU, PostgreSQL ${p.cost.postgresUs} vs ${p.baseCost.postgresUs} µs CPU, ${n(p.cost.walBytes)} vs ${n(p.baseCost.walBytes)} B of WAL, ${p.cost.fullPages} vs ${p.baseCost.fullPages} full-page images (scale vs baseline; WAL server-wide)`

export function rowsFigure9 (f: Figure9): Row[] {
  const pruneWithout = Math.max(...f.prune.withoutP99)
  return [
    { name: `9. scale: ${n(f.users)} users, ${n(f.revokedSessions)} revoked sessions, ${n(f.userRevocations)} user revocations`, value: `seeded with COPY in ${f.seedSeconds} s (load average ${f.load.join(' → ')} on ${cpus} CPUs)`, target: 'minutes', ok: null },
    { name: '9a. mirror load at start (Redis + PostgreSQL)', value: `${(f.mirror.loadMs / 1000).toFixed(2)} s for ${n(f.mirror.entries)} entries (Redis ${f.mirror.redisMs} ms, PostgreSQL ${f.mirror.durableMs} ms)`, target: '< 5 s', ok: f.mirror.loadMs < 5000 },
    { name: '9a. mirror memory (V8 heap kept)', value: `${f.mirror.heapMb} MB, ${f.mirror.bytesPerEntry} B an entry`, target: '< 100 MB', ok: f.mirror.heapMb < 100 },
    { name: '9a. instance start to ready, RSS, peak RSS', value: `${f.start.scaleMs} vs ${f.start.baseMs} ms; ${f.start.scaleRssMb} vs ${f.start.baseRssMb} MB; peak ${f.start.scalePeakMb} vs ${f.start.basePeakMb} MB (scale vs baseline; max stored cost scan ${f.start.maxCostScanMs} ms)`, target: 'measured', ok: null },
    { name: `9b. POST /auth/login p99 at ${LOGIN_RATE}/s, scale vs baseline`, value: pair(f.login), target: '<= 1.5x', ok: f.login.ratio <= 1.5 && f.login.non2xx === 0 },
    { name: `9b. POST /auth/refresh p99 at ${REFRESH_RATE}/s, scale vs baseline`, value: pair(f.refresh), target: '<= 1.5x', ok: f.refresh.ratio <= 1.5 && f.refresh.non2xx === 0 },
    { name: '9b. what a login costs (BCRYPT_COST=4)', value: cost(f.login), target: 'measured', ok: null },
    { name: '9b. what a refresh costs', value: cost(f.refresh), target: 'measured', ok: null },
    { name: '9b. GET /auth/me throughput, scale / baseline', value: `${n(f.me.scale)} vs ${n(f.me.base)} req/s = ${f.me.ratio.toFixed(3)}`, target: '>= 0.9', ok: f.me.ratio >= 0.9 },
    { name: `9c. GET /admin/users (${PAGE}), deep page vs first`, value: `p50 ${f.admin.deepP50} vs ${f.admin.firstP50} ms, p99 ${f.admin.deepP99} vs ${f.admin.firstP99} ms (baseline first page p50 ${f.admin.baseFirstP50} ms)`, target: 'p50 <= 1.5x', ok: f.admin.deepP50 <= 1.5 * f.admin.firstP50 },
    { name: `9d. refresh p99 at ${REFRESH_RATE}/s during a prune vs around it`, value: `${f.prune.duringP99} vs ${f.prune.withoutP99.join('/')} ms; prune ${f.prune.error ?? `${n(f.prune.sessions)} sessions, ${n(f.prune.tokens)} tokens`} in ${(f.prune.ms / 1000).toFixed(1)} s; ${f.prune.failed} non-2xx`, target: '< 2x, done', ok: f.prune.error === undefined && f.prune.duringP99 < 2 * pruneWithout && f.prune.failed === 0 },
    { name: '9e. bcrypt compare on one core, cost 12 (cost 4)', value: `${f.bcrypt.cost12Ms} ms = ${(1000 / f.bcrypt.cost12Ms).toFixed(1)} logins/s a core (cost 4: ${f.bcrypt.cost4Ms} ms)`, target: 'measured', ok: null }
  ]
}

/** The rows, then the profile and EXPLAINs of what missed (BENCH_ONLY=9). */
export const printFigure9 = (f: Figure9, line: (r: Row) => string) => [...rowsFigure9(f).map(line), ...f.explain].join('\n')
