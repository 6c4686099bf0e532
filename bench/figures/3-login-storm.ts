// Figure 3, the hot path during a login storm: p99 latency of GET /auth/me at
// a fixed 1,000 req/s (open loop, bench/paced.ts), during a storm of logins
// (bcrypt at the service's cost, 8 connections back to back, from
// bench/storm.ts in a process of its own at nice 10) against the same fixed
// rate with no storm, its baseline in the same run: a warm-up round of each,
// then BENCH_ROUNDS rounds alternating the two. Target: the storm's p99
// under twice the idle p99, in every round.
import { spawn } from 'node:child_process'
import { setPriority } from 'node:os'
import { bearer, FIXED_RATE_SECONDS, median, ROUNDS, USER, type Row } from '../common.ts'
import { paced, type PacedResult } from '../paced.ts'

interface StormResult { logins: number, failed: number, perSecond: number }

export interface LoginStorm {
  /** /auth/me p99 at 1,000 req/s, ms: idle and during the storm (medians), storm / idle. */
  idleP99: number
  stormP99: number
  ratio: number
  idleP99PerRound: number[]
  stormP99PerRound: number[]
  loginsPerSecond: number
  loginErrors: number
}

/**
 * Logins back to back on `connections` connections for `seconds`, from
 * bench/storm.ts in its own process at nice 10, started and loaded before the
 * round: `go` starts the storm and resolves when it is over.
 */
function loginStormProcess (base: string, seconds: number, connections: number): Promise<{ go: () => Promise<StormResult> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bench/storm.ts', base, String(seconds), String(connections), JSON.stringify(USER)], { stdio: ['pipe', 'pipe', 'inherit'] })
    try { setPriority(child.pid!, 10) } catch {}
    let out = ''
    const done = new Promise<StormResult>((resolve, reject) => {
      child.once('exit', (code) => code === 0 ? resolve(JSON.parse(out.split('\n')[1]) as StormResult) : reject(new Error(`bench/storm.ts exited ${code}`)))
    })
    done.catch(reject)
    child.once('error', reject)
    child.stdout.on('data', (d) => {
      out += d
      if (out.startsWith('ready\n') && out.length === 6) resolve({ go: () => { child.stdin.end('go\n'); return done } })
    })
  })
}

/** `accessToken`: USER's, on the service at `base`. */
export async function loginStorm (base: string, accessToken: string): Promise<LoginStorm> {
  const meAtFixedRate = () => paced({ base, rate: 1000, seconds: FIXED_RATE_SECONDS, connections: 20, request: () => ({ method: 'GET', path: '/auth/me', headers: bearer(accessToken) }) })
  const duringStorm = async () => {
    const storm = await loginStormProcess(base, FIXED_RATE_SECONDS, 8)
    return Promise.all([meAtFixedRate(), storm.go()])
  }
  // Warm-up, not counted: both cases, so that the login path is compiled
  // before the first measured storm, as the token check is before the first idle round.
  await meAtFixedRate()
  await duringStorm()
  const idleRounds: PacedResult[] = []
  const stormRounds: PacedResult[] = []
  const storms: StormResult[] = []
  for (let i = 0; i < ROUNDS; i++) {
    idleRounds.push(await meAtFixedRate())
    const [during, storm] = await duringStorm()
    stormRounds.push(during)
    storms.push(storm)
  }
  if ([...idleRounds, ...stormRounds].some((r) => r.failed > 0)) throw new Error('GET /auth/me failed during the fixed-rate rounds')
  const idleP99 = median(idleRounds.map((r) => r.p99))
  const stormP99 = median(stormRounds.map((r) => r.p99))
  return {
    idleP99,
    stormP99,
    ratio: stormP99 / idleP99,
    idleP99PerRound: idleRounds.map((r) => r.p99),
    stormP99PerRound: stormRounds.map((r) => r.p99),
    loginsPerSecond: median(storms.map((r) => r.perSecond)),
    loginErrors: storms.reduce((n, r) => n + r.failed, 0)
  }
}

/** Storm p99 / idle p99, round by round: the target holds in every round. */
const roundRatios = (f: LoginStorm) => f.stormP99PerRound.map((x, i) => x / f.idleP99PerRound[i])

/** Figure 3's line (BENCH_ONLY=3). */
export function printFigure3 (f: LoginStorm): string {
  const worst = Math.max(...roundRatios(f))
  return `3. /auth/me p99 at 1,000 req/s idle vs login storm: rounds ${f.idleP99PerRound.join('/')} vs ${f.stormP99PerRound.join('/')} ms, worst round ${worst.toFixed(2)}x (${f.loginsPerSecond.toFixed(1)} logins/s) ${worst < 2 ? 'PASS' : 'MISS'}`
}

export function rowFigure3 (f: LoginStorm): Row {
  const ratios = roundRatios(f)
  return {
    name: '3. /auth/me p99 at 1,000 req/s: idle vs login storm',
    value: `${f.idleP99} ms vs ${f.stormP99} ms (${f.loginsPerSecond.toFixed(1)} logins/s; rounds ${f.idleP99PerRound.join('/')} vs ${f.stormP99PerRound.join('/')}, worst round ${Math.max(...ratios).toFixed(2)}x)`,
    target: '< 2x idle, every round',
    ok: ratios.every((x) => x < 2)
  }
}
