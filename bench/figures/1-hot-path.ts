// Figures 1 and 2, the hot path: saturation throughput of GET /auth/me (a
// Bearer token checked: signature, claims, the in-memory revocation list)
// against the same service's constant route GET /health/live, its baseline in
// the same run: autocannon, 50 connections, a warm-up round of each, then
// BENCH_ROUNDS rounds alternating the two, medians. Figure 1 on the run's
// service (phase A); figure 2 the same with 10,000 revoked sessions in the
// revocation mirror (phase B, seeded by seedRevokedSessions), so that the
// list's size costs the check nothing. Target: /auth/me >= 0.85 of the
// constant route, in both.
import { randomUUID } from 'node:crypto'
import type autocannon from 'autocannon'
import type { Database } from '../../src/db/database.ts'
import { bearer, median, ROUNDS, saturate, type Row } from '../common.ts'

export interface Side { rps: number, p50: number, p99: number }
export interface HotPath { bare: Side, me: Side, ratio: number }

/** The measured route against the constant route of the same server, in alternating rounds. */
export async function versusBaseline (base: string, token: string): Promise<HotPath> {
  const live = () => saturate(`${base}/health/live`)
  const authMe = () => saturate(`${base}/auth/me`, bearer(token))
  const bare: autocannon.Result[] = []
  const me: autocannon.Result[] = []
  // One round of each first, not counted: JIT and heap warm-up.
  await live()
  await authMe()
  for (let i = 0; i < ROUNDS; i++) {
    bare.push(await live())
    me.push(await authMe())
  }
  if (me.some((r) => r.non2xx > 0)) throw new Error('GET /auth/me answered non-2xx during the run')
  const pick = (rs: autocannon.Result[]) => ({ rps: median(rs.map((r) => r.requests.average)), p50: median(rs.map((r) => r.latency.p50)), p99: median(rs.map((r) => r.latency.p99)) })
  const b = pick(bare)
  const m = pick(me)
  return { bare: b, me: m, ratio: m.rps / b.rps }
}

/** Figure 2's set-up: `n` revoked sessions in the database, which the service loads into its mirror on start. */
export async function seedRevokedSessions (db: Database, n: number): Promise<void> {
  await db.migrate()
  const userId = randomUUID()
  await db.prisma.user.create({ data: { id: userId, username: 'revoked_holder', usernameKey: `revoked_holder_${userId.slice(0, 8)}`, passwordHash: 'x' } })
  const now = new Date()
  for (let i = 0; i < n; i += 1000) {
    await db.prisma.session.createMany({
      data: Array.from({ length: Math.min(1000, n - i) }, () => ({ id: randomUUID(), userId, expiresAt: new Date(Date.now() + 86_400_000), revokedAt: now, revokedReason: 'bench' }))
    })
  }
}

const versus = (f: HotPath) => `${f.me.rps.toFixed(0)} vs ${f.bare.rps.toFixed(0)} req/s = ${f.ratio.toFixed(3)}`

/** Figure 1's short line (BENCH_ONLY=1m). */
export const printFigure1 = (f: HotPath) => `1. ${versus(f)}`

export const rowFigure1 = (f: HotPath): Row => ({
  name: '1. GET /auth/me vs constant route (rps ratio)',
  value: `${versus(f)} (p50 ${f.me.p50}/${f.bare.p50} ms, p99 ${f.me.p99}/${f.bare.p99} ms)`,
  target: '>= 0.85',
  ok: f.ratio >= 0.85
})

export const rowFigure2 = (f: HotPath): Row => ({
  name: '2. Same, 10,000 revoked sessions in the mirror',
  value: versus(f),
  target: '>= 0.85',
  ok: f.ratio >= 0.85
})
