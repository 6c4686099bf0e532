// What every figure of npm run bench shares: the run's settings (from the
// environment), the benchmark user, the load generators' calls, the service
// started pinned, and the report's line.
import autocannon from 'autocannon'
import { spawnSync } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { paced, type PacedResult } from './paced.ts'
import { cpuMs, startService as startBenchService, type Service } from './service.ts'

/** Measured rounds of each case (after a warm-up round). */
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
/** Seconds of one saturation (autocannon) round. */
export const ROUND_SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
/** Seconds of one fixed-rate (bench/paced.ts) round. */
export const FIXED_RATE_SECONDS = Number(process.env.BENCH_FIXED_RATE_SECONDS ?? 6)
/** Connections of a saturation round. */
export const CONNECTIONS = 50
export const USER = { username: 'bench_user', password: 'a benchmark passphrase' }

// On a small machine the load generator and the service fight for the same
// cores, and the ratios swing by 20% from round to round. When taskset is
// there and the machine has two or more CPUs, the service gets CPU 0 and this
// process (autocannon) the last CPU: done once, when this module is loaded.
// BENCH_PIN=off turns it off.
export const cpus = availableParallelism()
export const pinned = process.env.BENCH_PIN !== 'off' && cpus >= 2 && spawnSync('taskset', ['-a', '-cp', String(cpus - 1), String(process.pid)], { stdio: 'ignore' }).status === 0

/** bench/service.ts's service, on CPU 0 when this process is pinned. */
export const startService = (env: Record<string, string>, opts: { script?: string, readyPath?: string } = {}): Promise<Service> => startBenchService(env, { pinToCpu0: pinned, ...opts })

export function cannon (opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(opts, (err, res) => err ? reject(err) : resolve(res))
  })
}

/** One saturation round: GETs to `url` on CONNECTIONS connections for ROUND_SECONDS. */
export const saturate = (url: string, headers: Record<string, string> = {}) => cannon({ url, connections: CONNECTIONS, duration: ROUND_SECONDS, headers })

/** A fixed-rate run, with the CPU time the process `pid` spent per answered request, in µs (from /proc). */
export async function pacedWithCpu (pid: number, opts: Parameters<typeof paced>[0]): Promise<PacedResult & { cpuUs: number }> {
  const before = cpuMs(pid)
  const r = await paced(opts)
  return { ...r, cpuUs: ((cpuMs(pid) - before) * 1000) / r.ok }
}

export const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] }

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

export async function post (base: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  const r = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header', ...headers }, body: JSON.stringify(body) })
  return { status: r.status, body: r.status === 204 ? null : await r.json() }
}

export async function login (base: string) {
  const r = await post(base, '/auth/login', USER)
  if (r.status !== 200) throw new Error(`login failed: ${JSON.stringify(r.body)}`)
  return r.body as { access_token: string, refresh_token: string }
}

/** A line of the report: ok is null for a figure measured without a target. */
export interface Row { name: string, value: string, target: string, ok: boolean | null }

export const reportLine = ({ name, value, target, ok }: Row) => `${ok === null ? 'INFO' : ok ? 'PASS' : 'MISS'}  ${name.padEnd(52)} ${value}   target ${target}`
