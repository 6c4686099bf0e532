// Figure 4, refresh under load: p99 latency of POST /auth/refresh at a fixed
// 500 req/s (open loop, bench/paced.ts) on the service on PostgreSQL + Redis
// (phase C), where each refresh spends its token and stores its successor in
// one SQL statement. Absolute, no baseline: a warm-up round (the connection
// pool fills, statements get prepared), then BENCH_ROUNDS rounds, the median
// p99 reported and each round's printed. Target: p99 < 15 ms, and no answer
// other than 2xx.
import { FIXED_RATE_SECONDS, login, median, ROUNDS, type Row } from '../common.ts'
import { paced, type PacedResult } from '../paced.ts'

export interface RefreshRate {
  /** Medians of the rounds (ms, req/s). */
  rps: number
  p50: number
  p99: number
  p99PerRound: number[]
  non2xx: number
  statusesPerRound: Array<Record<string, number>>
}

/** On the service at `base`, where USER is registered. */
export async function refreshAtFixedRate (base: string): Promise<RefreshRate> {
  // Live tokens go round a queue: taken once, the successor put back. The
  // queue holds a second's worth, so that a stall of the service does not
  // empty it (a request with no token would fail and lose a session for good).
  const pool: string[] = []
  for (let i = 0; i < 500; i++) pool.push((await login(base)).refresh_token)
  const round = () => paced({
    base,
    rate: 500,
    seconds: FIXED_RATE_SECONDS,
    connections: 50,
    request: () => ({ method: 'POST', path: '/auth/refresh', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify({ refresh_token: pool.shift() }) }),
    onResponse: (status, body) => { if (status === 200) pool.push(JSON.parse(body).refresh_token) }
  })
  await round() // warm-up, not counted
  const rounds: PacedResult[] = []
  for (let i = 0; i < ROUNDS; i++) rounds.push(await round())
  return {
    rps: median(rounds.map((r) => r.rps)),
    p50: median(rounds.map((r) => r.p50)),
    p99: median(rounds.map((r) => r.p99)),
    p99PerRound: rounds.map((r) => r.p99),
    non2xx: rounds.reduce((n, r) => n + r.failed, 0),
    statusesPerRound: rounds.map((r) => r.statuses)
  }
}

export const rowFigure4 = (f: RefreshRate): Row => ({
  name: '4. POST /auth/refresh p99 at 500/s (PostgreSQL + Redis)',
  value: `${f.p99} ms (p50 ${f.p50} ms, ${f.rps.toFixed(0)} req/s, ${f.non2xx} non-2xx; rounds ${f.p99PerRound.join('/')})`,
  target: '< 15 ms',
  ok: f.p99 < 15 && f.non2xx === 0
})
