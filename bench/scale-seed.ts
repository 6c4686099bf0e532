// The data of the scale figure (bench/figures/9-scale.ts) and of the
// query-plan test (test/db/query-plans.test.ts), written with COPY straight
// into a migrated database, never through the API: a million users in about
// a minute instead of days of bcrypt. Every user has the same password and
// one precomputed bcrypt hash (made once, at the service's cost), so logins
// work and the database is what a login costs. Ids and refresh tokens are
// derived from the row's number and a salt, so the figure can log in as any
// user and refresh any session without keeping a million strings.
import { createHash, randomBytes } from 'node:crypto'
import pg from 'pg'
import { Redis } from 'ioredis'
import { revocationUntil } from '../src/revocation/mirror.ts'
import { copyFrom } from './scale-copy.ts'

export interface ScaleSpec {
  users: number
  /** Sessions ended within the last hour (on top of one live session per user). */
  revokedSessions: number
  /** Users whose token version was raised within the last hour (a logout-all, a role change). */
  userRevocations: number
}

export const SCALE_PASSWORD = 'a scale benchmark passphrase'
const DAY = 86_400_000
const SESSION_TTL = 14 * DAY

/** Names, ids and tokens of a seeded database, from a row's number. */
export function scaleNames (salt: string, users: number) {
  const hex = (tag: string, i: number) => createHash('sha256').update(`${salt}:${tag}:${i}`).digest('hex')
  const uuid = (tag: string, i: number) => { const h = hex(tag, i); return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}` }
  const step = (n: number) => n === 0 ? Infinity : Math.max(1, Math.floor(users / n))
  return {
    users,
    username: (i: number) => `scale_${salt}_${i}`,
    userId: (i: number) => uuid('u', i),
    /** User i's live session. */
    sessionId: (i: number) => uuid('s', i),
    tokenId: (i: number) => uuid('t', i),
    /** The refresh token of user i's live session, as a client holds it. */
    refreshToken: (i: number) => createHash('sha256').update(`${salt}:t:${i}`).digest('base64url'),
    revokedSessionId: (j: number) => uuid('r', j),
    /** Whether user i has a user-wide revocation in force (every step-th user). */
    isUserRevoked: (i: number, userRevocations: number) => (i + 1) % step(userRevocations) === 0 && Math.floor((i + 1) / step(userRevocations)) <= userRevocations
  }
}

export type ScaleNames = ReturnType<typeof scaleNames>

const sha = (raw: string) => createHash('sha256').update(raw).digest('base64url')
const iso = (ms: number) => new Date(ms).toISOString()

function * range<T> (n: number, line: (i: number) => T): Generator<T> {
  for (let i = 0; i < n; i++) yield line(i)
}

export interface Seeded { names: ScaleNames, spec: ScaleSpec, now: number, timings: Record<string, number> }

/**
 * Seeds a migrated, empty database at `url`. `passwordHash` is the bcrypt
 * hash of SCALE_PASSWORD every user gets. Foreign-key triggers are off
 * during the COPYs (session_replication_role = replica): the rows are
 * consistent by construction, and checking a million references would be
 * most of the time. Ends with VACUUM ANALYZE, as autovacuum would.
 */
export async function seedScale (url: string, spec: ScaleSpec, passwordHash: string, log: (line: string) => void = () => {}): Promise<Seeded> {
  const names = scaleNames(randomBytes(4).toString('hex'), spec.users)
  const now = Date.now()
  const timings: Record<string, number> = {}
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query('SET session_replication_role = replica')
    await client.query('SET synchronous_commit = off')
    const timed = async (name: string, fn: () => Promise<number>) => {
      const t0 = performance.now()
      const rows = await fn()
      timings[name] = Math.round(performance.now() - t0)
      log(`  ${name}: ${rows.toLocaleString('en')} rows in ${(timings[name] / 1000).toFixed(1)} s`)
    }
    const recent = (i: number) => now - 60_000 - (i % 3_000) * 1000 // within the last hour
    await timed('User', () => copyFrom(client, '"User" (id, username, "usernameKey", "passwordHash", "tokenVersion", "tokensRevokedAt", "createdAt", "updatedAt")', range(spec.users, (i) => {
      const revoked = names.isUserRevoked(i, spec.userRevocations)
      const name = names.username(i)
      return `${names.userId(i)}\t${name}\t${name}\t${passwordHash}\t${revoked ? 1 : 0}\t${revoked ? iso(recent(i)) : '\\N'}\t${iso(now - 30 * DAY)}\t${iso(now - 30 * DAY)}\n`
    })))
    await timed('UserRole', () => copyFrom(client, '"UserRole" ("userId", "roleName")', range(spec.users, (i) => `${names.userId(i)}\tuser\n`)))
    const created = iso(now - DAY)
    const expires = iso(now + SESSION_TTL - DAY)
    await timed('Session (live)', () => copyFrom(client, '"Session" (id, "userId", "createdAt", "lastUsedAt", "expiresAt", amr, "authTime")', range(spec.users, (i) =>
      `${names.sessionId(i)}\t${names.userId(i)}\t${created}\t${created}\t${expires}\t{pwd}\t${created}\n`)))
    await timed('RefreshToken (live)', () => copyFrom(client, '"RefreshToken" (id, "sessionId", "tokenHash", "expiresAt", "createdAt")', range(spec.users, (i) =>
      `${names.tokenId(i)}\t${names.sessionId(i)}\t${sha(names.refreshToken(i))}\t${expires}\t${created}\n`)))
    await timed('Session (revoked)', () => copyFrom(client, '"Session" (id, "userId", "createdAt", "lastUsedAt", "expiresAt", "revokedAt", "revokedReason", amr, "authTime")', range(spec.revokedSessions, (j) =>
      `${names.revokedSessionId(j)}\t${names.userId((j * 7) % spec.users)}\t${created}\t${created}\t${expires}\t${iso(recent(j))}\tlogout\t{pwd}\t${created}\n`)))
    const t0 = performance.now()
    await client.query('VACUUM ANALYZE "User", "UserRole", "Session", "RefreshToken"')
    timings.vacuumAnalyze = Math.round(performance.now() - t0)
    log(`  VACUUM ANALYZE in ${(timings.vacuumAnalyze / 1000).toFixed(1)} s`)
  } finally {
    await client.end()
  }
  return { names, spec, now, timings }
}

/**
 * The Redis side of the same revocations, as the service writes them
 * (redis-backend.ts: one key per entry under `<prefix>rev:`, expiring with the
 * tokens it covers), which every instance reads at start beside PostgreSQL.
 */
export async function seedRedisRevocations (redisUrl: string, seeded: Seeded, prefix = 'auth:'): Promise<number> {
  const { names, spec, now } = seeded
  const redis = new Redis(redisUrl)
  let n = 0
  try {
    let batch = redis.pipeline()
    const flush = async () => { await batch.exec(); batch = redis.pipeline() }
    const put = async (key: string, entry: { kind: string, id: string, until: number, version?: number, at: number }) => {
      batch.set(key, JSON.stringify(entry), 'PX', entry.until - Date.now())
      if (++n % 5000 === 0) await flush()
    }
    const recent = (i: number) => now - 60_000 - (i % 3_000) * 1000
    for (let j = 0; j < spec.revokedSessions; j++) {
      const id = names.revokedSessionId(j)
      await put(`${prefix}rev:session:${id}`, { kind: 'session', id, until: revocationUntil(recent(j)), at: recent(j) })
    }
    for (let i = 0; i < spec.users; i++) {
      if (!names.isUserRevoked(i, spec.userRevocations)) continue
      const id = names.userId(i)
      await put(`${prefix}rev:user:${id}:1`, { kind: 'user', id, version: 1, until: revocationUntil(recent(i)), at: recent(i) })
    }
    await flush()
  } finally {
    redis.disconnect()
  }
  return n
}

/**
 * A day's worth of rows for the prune to delete: `sessions` sessions that
 * expired two days ago (one expired token each) and `tokens` spent refresh
 * tokens of live sessions that expired within the last day.
 */
export async function seedExpired (url: string, seeded: Seeded, counts: { sessions: number, tokens: number }): Promise<void> {
  const { names, spec } = seeded
  const now = Date.now()
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query('SET session_replication_role = replica')
    const salt = randomBytes(4).toString('hex')
    const id = (tag: string, i: number) => { const h = createHash('sha256').update(`${salt}:${tag}:${i}`).digest('hex'); return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}` }
    const old = iso(now - 16 * DAY)
    const gone = iso(now - 2 * DAY)
    await copyFrom(client, '"Session" (id, "userId", "createdAt", "lastUsedAt", "expiresAt", amr, "authTime")', range(counts.sessions, (i) =>
      `${id('s', i)}\t${names.userId((i * 13) % spec.users)}\t${old}\t${old}\t${gone}\t{pwd}\t${old}\n`))
    await copyFrom(client, '"RefreshToken" (id, "sessionId", "tokenHash", "expiresAt", "createdAt")', range(counts.sessions, (i) =>
      `${id('t', i)}\t${id('s', i)}\t${sha(id('h', i))}\t${gone}\t${old}\n`))
    await copyFrom(client, '"RefreshToken" (id, "sessionId", "tokenHash", "expiresAt", "createdAt", "usedAt")', range(counts.tokens, (i) => {
      const expired = now - 60_000 - (i % 86_000) * 1000
      return `${id('x', i)}\t${names.sessionId((i * 17) % spec.users)}\t${sha(id('y', i))}\t${iso(expired)}\t${iso(expired - SESSION_TTL)}\t${iso(expired - SESSION_TTL + 900_000)}\n`
    }))
    await client.query('VACUUM ANALYZE "Session", "RefreshToken"')
  } finally {
    await client.end()
  }
}
