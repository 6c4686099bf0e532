// Figure 1m, the cost of metrics: GET /auth/me on two fresh services alike
// but for METRICS_PORT (the Prometheus endpoint and its per-request
// counting), started and warmed alike in the same run, the one without
// metrics the baseline. Measured by CPU time per request of each service at a
// fixed 4,000 req/s (read from /proc; capacity is its inverse), which
// resolves a few percent where saturation throughput on a shared core swings
// by ±20%, and by saturation throughput too; twice BENCH_ROUNDS rounds in ABBA
// order, medians. Target: capacity with metrics on >= 0.95 of it without.
import type autocannon from 'autocannon'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bearer, FIXED_RATE_SECONDS, login, median, pacedWithCpu, post, ROUNDS, saturate, startService, USER, type Row } from '../common.ts'

export interface MetricsCost {
  /** Saturation throughput, metrics off and on, req/s (medians), and on / off. */
  off: number
  on: number
  ratio: number
  /** on / off, each round. */
  perRound: number[]
  /** CPU time per request at 4,000 req/s, µs. */
  cpu: { offUs: number, onUs: number, offPerRound: number[], onPerRound: number[] }
  /** Capacity with metrics on, as a fraction of it without: CPU time per request, inverted. */
  capacityRatio: number
}

/** Both orders in turn (ABBA): neither side always goes first. */
async function alternating (rounds: number, off: () => Promise<void>, on: () => Promise<void>): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) { await off(); await on() } else { await on(); await off() }
  }
}

export async function metricsCost (backendEnv: Record<string, string>): Promise<MetricsCost> {
  const fresh = async (extra: Record<string, string>) => {
    // Its own data folder on the embedded database (one process per folder); the same database otherwise.
    const s = await startService({ ...backendEnv, DATA_DIR: mkdtempSync(join(tmpdir(), 'auth-bench-m-')), ...extra })
    await post(s.base, '/auth/register', USER) // 409 on a shared database: the user is there already
    const token = (await login(s.base)).access_token
    return {
      s,
      saturate: () => saturate(`${s.base}/auth/me`, bearer(token)),
      cpuUs: async () => (await pacedWithCpu(s.proc.pid!, { base: s.base, rate: 4000, seconds: FIXED_RATE_SECONDS, connections: 20, request: () => ({ method: 'GET', path: '/auth/me', headers: bearer(token) }) })).cpuUs
    }
  }
  const plain = await fresh({})
  const on = await fresh({ METRICS_PORT: '0' })
  const off: autocannon.Result[] = []
  const withMetrics: autocannon.Result[] = []
  for (let i = 0; i < 2; i++) {
    await plain.saturate()
    await on.saturate()
  }
  await alternating(ROUNDS * 2, async () => { off.push(await plain.saturate()) }, async () => { withMetrics.push(await on.saturate()) })
  // Saturation throughput on a shared core swings by ±20% from round to round,
  // more than the effect measured. The same cost, steadier: CPU time per
  // request at a fixed rate.
  const cpuOff: number[] = []
  const cpuOn: number[] = []
  await alternating(ROUNDS, async () => { cpuOff.push(await plain.cpuUs()) }, async () => { cpuOn.push(await on.cpuUs()) })
  await on.s.stop()
  await plain.s.stop()
  const offRps = median(off.map((r) => r.requests.average))
  const onRps = median(withMetrics.map((r) => r.requests.average))
  const perRound = off.map((r, i) => Number((withMetrics[i].requests.average / r.requests.average).toFixed(3)))
  const cpu = { offUs: median(cpuOff), onUs: median(cpuOn), offPerRound: cpuOff.map((x) => Number(x.toFixed(1))), onPerRound: cpuOn.map((x) => Number(x.toFixed(1))) }
  return { off: offRps, on: onRps, ratio: onRps / offRps, perRound, cpu, capacityRatio: cpu.offUs / cpu.onUs }
}

/** Figure 1m's line (BENCH_ONLY=1m). */
export const printFigure1m = (f: MetricsCost) => `1m. CPU per request at 4,000 req/s: metrics on ${f.cpu.onUs.toFixed(1)} µs vs off ${f.cpu.offUs.toFixed(1)} µs = capacity ${f.capacityRatio.toFixed(3)} (target >= 0.95; rounds on ${f.cpu.onPerRound.join('/')}, off ${f.cpu.offPerRound.join('/')}); saturation ${f.on.toFixed(0)} vs ${f.off.toFixed(0)} req/s = ${f.ratio.toFixed(3)} (per round ${f.perRound.join('/')})`

export const rowFigure1m = (f: MetricsCost): Row => ({
  name: '1m. GET /auth/me capacity, metrics on vs off',
  value: `${f.capacityRatio.toFixed(3)} (CPU per request ${f.cpu.onUs.toFixed(1)} vs ${f.cpu.offUs.toFixed(1)} µs at 4,000 req/s); saturation ${f.on.toFixed(0)} vs ${f.off.toFixed(0)} req/s = ${f.ratio.toFixed(3)}`,
  target: '>= 0.95',
  ok: f.capacityRatio >= 0.95
})
