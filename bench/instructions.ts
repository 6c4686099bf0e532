// node bench/instructions.ts: where a request's work goes, counted in
// instructions rather than timed. Each case runs under valgrind's callgrind
// (every thread of the process counted: the main thread, libuv's pool, V8's
// compiler and GC helpers), is warmed up, then its counters are zeroed, N
// requests are sent, and the counters dumped: instructions per request. A
// count is repeatable whatever else the machine does, so parts worth a few
// µs, lost in CPU-time noise on a shared 2-core VM, can be told apart.
// The cases are those of bench/breakdown.ts. The service runs on PostgreSQL
// + Redis here (DATABASE_URL and REDIS_URL, or throwaway servers): PGlite's
// WebAssembly takes minutes to compile under valgrind.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pool } from 'undici'
import { postgresForSuite, startOwnRedis, stopSharedPostgres } from '../test/helpers/servers.ts'
import { startService } from './service.ts'

const N = Number(process.env.INSTR_REQUESTS ?? 4000)
const WARMUP = Number(process.env.INSTR_WARMUP ?? 6000)

if (spawnSync('valgrind', ['--version']).status !== 0) throw new Error('valgrind is needed (apt-get install valgrind)')

async function send (base: string, path: string, headers: Record<string, string>, n: number): Promise<void> {
  const pool = new Pool(base, { connections: 8, pipelining: 1 })
  let next = 0
  const worker = async () => {
    while (next < n) {
      next++
      const r = await pool.request({ method: 'GET', path, headers })
      await r.body.dump()
      if (r.statusCode !== 200) throw new Error(`${path} answered ${r.statusCode}`)
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
  await pool.close()
}

/** Total instructions in the dump callgrind writes for `pid` (all its threads), since the last zeroing. */
function dumpedInstructions (dir: string, pid: number): number {
  const c = spawnSync('callgrind_control', ['-d', String(pid)], { encoding: 'utf8' })
  if (c.status !== 0) throw new Error(`callgrind_control -d failed: ${c.stderr}`)
  let total = 0
  for (const file of readdirSync(dir)) {
    if (!file.startsWith(`callgrind.out.${pid}`) || !/\.\d+(-\d+)?$/.test(file)) continue
    const m = /^summary: (\d+)/m.exec(readFileSync(join(dir, file), 'utf8')) ?? /^totals: (\d+)/m.exec(readFileSync(join(dir, file), 'utf8'))
    if (m !== null) total += Number(m[1])
  }
  return total
}

interface Case { name: string, env: Record<string, string>, script?: string, readyPath?: string, path: string, auth?: boolean }

const user = { username: 'instructions_user', password: 'an instructions passphrase' }
let pgUrl = process.env.DATABASE_URL
let redisUrl = process.env.REDIS_URL
const cleanups: Array<() => Promise<void>> = []
if (!pgUrl) { const pg = await postgresForSuite(); pgUrl = pg.url; cleanups.push(pg.drop, stopSharedPostgres) }
if (!redisUrl) { const r = await startOwnRedis(); redisUrl = r.url; cleanups.push(r.stop) }
const serviceEnv = { DATABASE_URL: pgUrl, REDIS_URL: redisUrl, DATA_DIR: mkdtempSync(join(tmpdir(), 'auth-instr-')), BCRYPT_COST: '4' }

const cases: Case[] = [
  { name: 'bare Fastify, constant route', env: { BARE_VARIANT: 'bare' }, script: 'bench/bare.ts', readyPath: '/', path: '/' },
  { name: '+ the service\'s server options', env: { BARE_VARIANT: 'options' }, script: 'bench/bare.ts', readyPath: '/', path: '/' },
  { name: 'options + security headers', env: { BARE_VARIANT: 'headers' }, script: 'bench/bare.ts', readyPath: '/', path: '/' },
  { name: 'the service: GET /health/live', env: serviceEnv, path: '/health/live' },
  { name: 'the service: GET /auth/me', env: serviceEnv, path: '/auth/me', auth: true }
]

console.log(`instructions per request under callgrind: ${WARMUP} warm-up requests, then ${N} counted (${new Date().toISOString()}, node ${process.version})`)
let base: number | undefined
for (const c of cases) {
  const dir = mkdtempSync(join(tmpdir(), 'auth-callgrind-'))
  const s = await startService(c.env, {
    script: c.script,
    readyPath: c.readyPath,
    readyTimeoutMs: 600_000,
    wrapper: ['valgrind', '--tool=callgrind', '--trace-children=no', `--callgrind-out-file=${dir}/callgrind.out.%p`, '--dump-instr=no', '--collect-jumps=no']
  })
  const headers: Record<string, string> = {}
  if (c.auth === true) {
    await fetch(`${s.base}/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(user) })
    const login = await (await fetch(`${s.base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify(user) })).json()
    headers.authorization = `Bearer ${login.access_token}`
  }
  await send(s.base, c.path, headers, WARMUP)
  const pid = s.proc.pid!
  if (spawnSync('callgrind_control', ['-z', String(pid)]).status !== 0) throw new Error('callgrind_control -z failed')
  await send(s.base, c.path, headers, N)
  const perRequest = dumpedInstructions(dir, pid) / N
  base ??= perRequest
  console.log(`${c.name.padEnd(40)} ${Math.round(perRequest).toLocaleString('en').padStart(9)} instructions  (${perRequest >= base ? '+' : ''}${Math.round(perRequest - base).toLocaleString('en')} vs bare; ratio ${(base / perRequest).toFixed(3)})`)
  await s.stop()
}
for (const c of cleanups) await c()
