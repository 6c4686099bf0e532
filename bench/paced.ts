// An open-loop load generator for the fixed-rate figures (3 and 4).
//
// autocannon's `overallRate` is a per-second budget: every connection sends
// back to back until the second's share is spent, then waits for the next
// second (autocannon/lib/httpClient.js, `reqsMadeThisSecond`). At "500/s" the
// service therefore sees a saturating burst each second, and the latency it
// reports is the latency of that burst. A fixed rate here means what it means
// in wrk2: request i is due at start + i / rate whatever happened before it,
// and its latency is counted from when it was due, so a stall of the service
// shows in every request it delayed (no coordinated omission).
import { Pool } from 'undici'

export interface PacedRequest { method: 'GET' | 'POST', path: string, headers: Record<string, string>, body?: string }
export interface PacedResult { sent: number, ok: number, failed: number, statuses: Record<string, number>, rps: number, p50: number, p90: number, p99: number, max: number }

export async function paced (opts: {
  base: string
  rate: number
  seconds: number
  connections: number
  /** A GET that opens the connections before the clock starts (default /health/live). */
  connectPath?: string
  /** Builds request i (called when it is due). */
  request: (i: number) => PacedRequest
  /** Sees each answer; a status other than 2xx counts as failed. */
  onResponse?: (status: number, body: string) => void
}): Promise<PacedResult> {
  // The generator's own garbage, collected before the clock starts (npm run
  // bench gives Node --expose-gc): a full collection of this process in the
  // middle of a round stalled its dispatch by 10-60 ms, counted as the
  // service's latency. Then a pause for its sweeping, which goes on in the
  // background on the same CPU.
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc !== undefined) {
    gc()
    await new Promise((resolve) => setTimeout(resolve, 300))
  }
  const pool = new Pool(opts.base, { connections: opts.connections, pipelining: 1 })
  // The connections opened before the clock starts, by as many concurrent
  // requests to a constant route: the service's accept and the pool's
  // connect are not the measured requests' latency.
  await Promise.all(Array.from({ length: opts.connections }, async () => { await (await pool.request({ method: 'GET', path: opts.connectPath ?? '/health/live' })).body.text() }))
  const total = Math.round(opts.rate * opts.seconds)
  const interval = 1000 / opts.rate
  const latencies: number[] = []
  let ok = 0
  let failed = 0
  const statuses: Record<string, number> = {}
  const inFlight: Array<Promise<void>> = []
  const start = performance.now()
  let next = 0

  const send = (i: number, due: number) => {
    const req = opts.request(i)
    return pool.request({ method: req.method, path: req.path, headers: req.headers, body: req.body })
      .then(async (res) => {
        const text = await res.body.text()
        latencies.push(performance.now() - due)
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1
        if (res.statusCode >= 200 && res.statusCode < 300) ok++
        else failed++
        opts.onResponse?.(res.statusCode, text)
      }, () => { failed++; statuses.error = (statuses.error ?? 0) + 1 })
  }

  while (next < total) {
    const now = performance.now()
    while (next < total && start + next * interval <= now) {
      inFlight.push(send(next, start + next * interval))
      next++
    }
    if (next < total) await new Promise((resolve) => setTimeout(resolve, Math.max(0, start + next * interval - performance.now())))
  }
  await Promise.all(inFlight)
  const elapsed = (performance.now() - start) / 1000
  await pool.close()
  latencies.sort((a, b) => a - b)
  const at = (q: number) => latencies.length === 0 ? NaN : latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))]
  const round = (x: number) => Math.round(x * 10) / 10
  return { sent: total, ok, failed, statuses, rps: round(total / elapsed), p50: round(at(0.5)), p90: round(at(0.9)), p99: round(at(0.99)), max: round(at(1)) }
}
