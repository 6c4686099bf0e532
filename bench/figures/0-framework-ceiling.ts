// Figure 0, the framework's ceiling: how close the service comes to a bare
// Fastify app (bench/bare.ts: the same Fastify, the same Node flags, logger
// off, one constant route) started in the same run as its own process. The
// service's /health/live is compared with the bare app, its /auth/me with the
// bare app sent the same Authorization header (reading a 500-byte header is
// Node's parser's work for any app), and /auth/me on a second service with
// metrics on likewise (0m). Each case is measured by saturation throughput
// and, steadier on a shared machine, by CPU time per request at a fixed 4,000
// req/s (0c), in rounds whose order rotates, each process alone on CPU 0
// while it is measured; each ratio is taken within a round, and the median of
// the rounds reported (0r prints every round). Targets: /health/live and
// /auth/me >= 0.85 of the bare app's throughput; with metrics on, >= 0.8.
import { spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bearer, cpus, FIXED_RATE_SECONDS, login, median, pacedWithCpu, pinned, post, saturate, startService, USER, type Row } from '../common.ts'
import type { Service } from '../service.ts'

// Processes a few percent apart on a machine whose rounds swing by ±20 %: more rounds.
const FIGURE_0_ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)

const CASES = ['bare', 'bareBearer', 'live', 'me', 'meMetrics'] as const
type Case = typeof CASES[number]
interface Ratios { live: number, me: number, meMetrics: number, meNoHeader: number }

export interface FrameworkCeiling {
  /** Saturation throughput, req/s (medians). */
  rps: Record<Case, number>
  /** CPU time per request at 4,000 req/s, µs (medians). */
  cpuUs: Record<Case, number>
  cpuPerRound: Record<Case, number[]>
  /** Against the bare app, from CPU time per request. */
  capacity: Ratios
  bytesPerAnswer: Record<string, number>
  /** Saturation throughput of each round. */
  perRound: Record<Case, number[]>
  /** Against the bare app, from saturation throughput. */
  ratios: Ratios
}

/** x / y for each round: figure 0's ratios are the median of these, and printed as they are. */
const roundRatios = (xs: number[], ys: number[]) => xs.map((x, i) => x / ys[i])
const shown = (xs: number[], ys: number[]) => roundRatios(xs, ys).map((r) => r.toFixed(2)).join('/')
const perCase = <T>(make: () => T) => Object.fromEntries(CASES.map((name) => [name, make()])) as Record<Case, T>
const mapCases = (rec: Record<Case, number[]>, f: (xs: number[]) => number) => Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, f(v)])) as Record<Case, number>

/** `svc` is the run's service (metrics off) and `token` an access token of USER on it. */
export async function frameworkCeiling (svc: Service, token: string, backendEnv: Record<string, string>): Promise<FrameworkCeiling> {
  const bare = await startService({}, { script: 'bench/bare.ts', readyPath: '/' })
  const withMetrics = await startService({ ...backendEnv, DATA_DIR: mkdtempSync(join(tmpdir(), 'auth-bench-0-')), METRICS_PORT: '0' })
  await post(withMetrics.base, '/auth/register', USER)
  const metricsToken = (await login(withMetrics.base)).access_token
  // bareBearer is the same request as /auth/me's, to the bare app (which ignores the header).
  const targets: Record<Case, { base: string, path: string, headers: Record<string, string>, pid: number }> = {
    bare: { base: bare.base, path: '/', headers: {}, pid: bare.proc.pid! },
    bareBearer: { base: bare.base, path: '/', headers: bearer(token), pid: bare.proc.pid! },
    live: { base: svc.base, path: '/health/live', headers: {}, pid: svc.proc.pid! },
    me: { base: svc.base, path: '/auth/me', headers: bearer(token), pid: svc.proc.pid! },
    meMetrics: { base: withMetrics.base, path: '/auth/me', headers: bearer(metricsToken), pid: withMetrics.proc.pid! }
  }
  const saturateCase = (name: Case) => saturate(targets[name].base + targets[name].path, targets[name].headers)
  /** Every case once per round, the order rotating from round to round. */
  const inRotation = async (each: (name: Case) => Promise<void>) => {
    for (let i = 0; i < FIGURE_0_ROUNDS; i++) {
      for (let k = 0; k < CASES.length; k++) await each(CASES[(i + k) % CASES.length])
    }
  }
  const runs = perCase<number[]>(() => [])
  const bytes: Record<string, number> = {}
  for (const name of CASES) await saturateCase(name) // warm-up, not counted
  await inRotation(async (name) => {
    const r = await saturateCase(name)
    if (r.non2xx > 0) throw new Error(`figure 0: ${name} answered non-2xx`)
    runs[name].push(r.requests.average)
    bytes[name] = r.throughput.average / r.requests.average
  })
  // Saturation swings by ±20% on a shared 2-core machine; CPU time per
  // request at a fixed rate is the steadier measure of the same capacity.
  const cpu = perCase<number[]>(() => [])
  await inRotation(async (name) => {
    const { base, path, headers, pid } = targets[name]
    const r = await pacedWithCpu(pid, { base, rate: 4000, seconds: FIXED_RATE_SECONDS / 2, connections: 20, connectPath: path, request: () => ({ method: 'GET', path, headers }) })
    cpu[name].push(r.cpuUs)
  })
  await bare.stop()
  await withMetrics.stop()
  // Each ratio is taken within a round (the cases measured back to back, so
  // a slow stretch of the VM weighs on both sides), then the median of the
  // rounds: steadier than a ratio of two medians taken minutes apart.
  const medianRatio = (xs: number[], ys: number[]) => median(roundRatios(xs, ys))
  return {
    rps: mapCases(runs, median),
    cpuUs: mapCases(cpu, median),
    cpuPerRound: cpu,
    // /auth/me against the bare app sent the same request; also against the bare app sent no header.
    capacity: { live: medianRatio(cpu.bare, cpu.live), me: medianRatio(cpu.bareBearer, cpu.me), meMetrics: medianRatio(cpu.bareBearer, cpu.meMetrics), meNoHeader: medianRatio(cpu.bare, cpu.me) },
    bytesPerAnswer: Object.fromEntries(Object.entries(bytes).map(([k, v]) => [k, Math.round(v)])),
    perRound: runs,
    ratios: { live: medianRatio(runs.live, runs.bare), me: medianRatio(runs.me, runs.bareBearer), meMetrics: medianRatio(runs.meMetrics, runs.bareBearer), meNoHeader: medianRatio(runs.me, runs.bare) }
  }
}

/** Figure 0's targets: /health/live and /auth/me at least 0.85 of the bare app; with metrics on, 0.8. */
export function figure0Met (f: FrameworkCeiling) {
  return { routes: f.ratios.live >= 0.85 && f.ratios.me >= 0.85, withMetrics: f.ratios.meMetrics >= 0.8 }
}

/** The lines 0, 0c and 0r (BENCH_ONLY=0). */
export function printFigure0 (f: FrameworkCeiling): string {
  const k = (x: number) => `${(x / 1000).toFixed(1)}k`
  const us = (x: number) => `${x.toFixed(1)} µs`
  return `0. saturation: bare Fastify ${k(f.rps.bare)} req/s (${k(f.rps.bareBearer)} sent /auth/me's Authorization header); /health/live ${k(f.rps.live)} = ${f.ratios.live.toFixed(3)}, /auth/me ${k(f.rps.me)} = ${f.ratios.me.toFixed(3)} (targets >= 0.85; /auth/me against the bare app sent no header: ${f.ratios.meNoHeader.toFixed(3)}); /auth/me with metrics ${k(f.rps.meMetrics)} = ${f.ratios.meMetrics.toFixed(3)} (target >= 0.8)\n0c. CPU per request at 4,000 req/s: bare ${us(f.cpuUs.bare)} (${us(f.cpuUs.bareBearer)} with the header); /health/live ${us(f.cpuUs.live)} = capacity ${f.capacity.live.toFixed(3)}, /auth/me ${us(f.cpuUs.me)} = ${f.capacity.me.toFixed(3)} (${f.capacity.meNoHeader.toFixed(3)} against no header), with metrics ${us(f.cpuUs.meMetrics)} = ${f.capacity.meMetrics.toFixed(3)}; bytes per answer ${JSON.stringify(f.bytesPerAnswer)}\n0r. per round (saturation ratio; CPU capacity): /health/live ${shown(f.perRound.live, f.perRound.bare)}; ${shown(f.cpuPerRound.bare, f.cpuPerRound.live)}, /auth/me ${shown(f.perRound.me, f.perRound.bareBearer)}; ${shown(f.cpuPerRound.bareBearer, f.cpuPerRound.me)}, with metrics ${shown(f.perRound.meMetrics, f.perRound.bareBearer)}; ${shown(f.cpuPerRound.bareBearer, f.cpuPerRound.meMetrics)}`
}

/** The report's rows 0 and 0m. */
export function rowsFigure0 (f: FrameworkCeiling): Row[] {
  const met = figure0Met(f)
  return [
    { name: '0. vs a bare Fastify app (rps ratio)', value: `bare ${f.rps.bare.toFixed(0)} req/s; /health/live ${f.ratios.live.toFixed(3)}, /auth/me ${f.ratios.me.toFixed(3)} (bare app sent the same Authorization header; ${f.ratios.meNoHeader.toFixed(3)} against none); capacity from CPU per request ${f.capacity.live.toFixed(3)}, ${f.capacity.me.toFixed(3)} (${f.cpuUs.bare.toFixed(1)}/${f.cpuUs.bareBearer.toFixed(1)}/${f.cpuUs.live.toFixed(1)}/${f.cpuUs.me.toFixed(1)} µs)`, target: '>= 0.85', ok: met.routes },
    { name: '0m. /auth/me with metrics on vs a bare Fastify app', value: `${f.ratios.meMetrics.toFixed(3)}; capacity ${f.capacity.meMetrics.toFixed(3)} (${f.cpuUs.meMetrics.toFixed(1)} µs)`, target: '>= 0.8', ok: met.withMetrics }
  ]
}

/**
 * Figure 0 missed: the profile that shows what bounds it. Timed rounds on a
 * shared VM cannot tell its parts apart; bench/callgrind.ts counts each case's
 * instructions per request by part (5-7 minutes here; BENCH_CALLGRIND=off skips it).
 */
export function whereFigure0Goes (f: FrameworkCeiling): void {
  const met = figure0Met(f)
  if ((met.routes && met.withMetrics) || process.env.BENCH_CALLGRIND === 'off') return
  if (spawnSync('valgrind', ['--version'], { stdio: 'ignore' }).status !== 0) {
    console.log('\nfigure 0 missed: with valgrind installed, `node bench/callgrind.ts` counts where each request\'s instructions go')
    return
  }
  console.log('\nfigure 0 missed: instructions per request by part, counted under valgrind (node bench/callgrind.ts; BENCH_CALLGRIND=off skips this)')
  // Not pinned: its two processes under valgrind take a CPU each.
  const all = ['-c', `0-${cpus - 1}`, process.execPath, 'bench/callgrind.ts']
  if (pinned) spawnSync('taskset', all, { stdio: 'inherit' })
  else spawnSync(process.execPath, ['bench/callgrind.ts'], { stdio: 'inherit' })
}
