// node bench/breakdown.ts: where a request's CPU time goes, part by part.
// CPU time per request at a fixed 4,000 req/s (steadier than saturation on a
// shared machine), each process alone on CPU 0, rounds in rotating order,
// medians: a bare Fastify app, then the service's parts added one at a time
// (bench/bare.ts BARE_VARIANT), then the service itself.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { paced } from './paced.ts'
import { cpuMs, startService } from './service.ts'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const SECONDS = 4
const env = (extra: Record<string, string> = {}) => ({ DATA_DIR: mkdtempSync(join(tmpdir(), 'auth-breakdown-')), ...extra })
const bare = (variant: string, extra: Record<string, string> = {}) => startService({ BARE_VARIANT: variant, ...extra }, { script: 'bench/bare.ts', readyPath: '/', pinToCpu0: true })

const svc = await startService(env(), { pinToCpu0: true })
const user = { username: 'breakdown_user', password: 'a breakdown passphrase' }
await fetch(`${svc.base}/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(user) })
const token = (await (await fetch(`${svc.base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify(user) })).json()).access_token
const cases: Array<{ name: string, s: Awaited<ReturnType<typeof startService>>, path: string, headers: Record<string, string> }> = [
  { name: 'bare Fastify, constant route', s: await bare('bare'), path: '/', headers: {} },
  { name: '+ the service\'s server options', s: await bare('options'), path: '/', headers: {} },
  { name: '+ Fastify\'s logger at warn (no longer used)', s: await bare('logger'), path: '/', headers: {} },
  { name: 'options + security headers', s: await bare('headers'), path: '/', headers: {} },
  { name: 'options + PGlite and Prisma open in the process', s: await bare('options', { BARE_WITH_DB: '1' }), path: '/', headers: {} },
  { name: 'the service: GET /health/live', s: svc, path: '/health/live', headers: {} },
  { name: 'the service: GET /auth/me', s: svc, path: '/auth/me', headers: { authorization: `Bearer ${token}` } }
]
const cpu: number[][] = cases.map(() => [])
for (const c of cases) await paced({ base: c.s.base, rate: 4000, seconds: 2, connections: 20, request: () => ({ method: 'GET', path: c.path, headers: c.headers }) })
for (let i = 0; i < ROUNDS; i++) {
  for (let k = 0; k < cases.length; k++) {
    const j = (i + k) % cases.length
    const c = cases[j]
    const before = cpuMs(c.s.proc.pid!)
    const r = await paced({ base: c.s.base, rate: 4000, seconds: SECONDS, connections: 20, request: () => ({ method: 'GET', path: c.path, headers: c.headers }) })
    cpu[j].push(((cpuMs(c.s.proc.pid!) - before) * 1000) / r.ok)
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const base = median(cpu[0])
console.log(`CPU per request at 4,000 req/s, median of ${ROUNDS} rounds (${new Date().toISOString()}, node ${process.version})`)
for (const [j, c] of cases.entries()) {
  console.log(`${c.name.padEnd(48)} ${median(cpu[j]).toFixed(1).padStart(6)} µs  (${(median(cpu[j]) - base >= 0 ? '+' : '')}${(median(cpu[j]) - base).toFixed(1)} µs vs bare; capacity ${(base / median(cpu[j])).toFixed(3)})  rounds ${cpu[j].map((x) => x.toFixed(0)).join('/')}`)
}
for (const c of new Set(cases.map((x) => x.s))) await c.stop()
