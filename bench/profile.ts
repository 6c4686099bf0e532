// CPU profile of one route under load, for the evidence behind a missed target:
//   node bench/profile.ts refresh      (PostgreSQL + Redis, POST /auth/refresh)
//   node bench/profile.ts me           (embedded, GET /auth/me)
//   node bench/profile.ts login        (embedded, POST /auth/login, bcrypt cost 4)
// Starts the service with --cpu-prof, drives it for 10 s, and prints the
// functions with the most self time, grouped by package.
import autocannon from 'autocannon'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { postgresForSuite, startOwnRedis, stopSharedPostgres } from '../test/helpers/servers.ts'
import { startService } from './service.ts'

const what = process.argv[2] ?? 'refresh'
const profDir = mkdtempSync(join(tmpdir(), 'auth-prof-'))
const cleanups: Array<() => Promise<void>> = []
const env: Record<string, string> = { BCRYPT_COST: '4', DATA_DIR: mkdtempSync(join(tmpdir(), 'auth-prof-data-')) }
if (what === 'refresh') {
  const pg = await postgresForSuite()
  const redis = await startOwnRedis()
  cleanups.push(pg.drop, stopSharedPostgres, redis.stop)
  env.DATABASE_URL = process.env.DATABASE_URL ?? pg.url
  env.REDIS_URL = process.env.REDIS_URL ?? redis.url
}
const { base, stop } = await startService(env, { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] })
const post = (path: string, body: unknown) => fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify(body) }).then((r) => r.json())
const user = { username: 'prof_user', password: 'a profiling passphrase' }
await post('/auth/register', user)
const pool: string[] = []
for (let i = 0; i < 20; i++) pool.push((await post('/auth/login', user)).refresh_token)
const access = (await post('/auth/login', user)).access_token

const result = await new Promise<autocannon.Result>((resolve, reject) => autocannon(what === 'refresh'
  ? {
      url: base,
      connections: 20,
      duration: 10,
      requests: [{
        method: 'POST',
        path: '/auth/refresh',
        setupRequest: (req: any) => ({ ...req, headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify({ refresh_token: pool.shift() }) }),
        onResponse: (status: number, body: string) => { if (status === 200) pool.push(JSON.parse(body).refresh_token) }
      }] as any
    }
  : what === 'login'
    ? { url: `${base}/auth/login`, method: 'POST', connections: 8, duration: 10, headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify(user) }
    : { url: `${base}/auth/me`, connections: 50, duration: 10, headers: { authorization: `Bearer ${access}` } },
(err, res) => err ? reject(err) : resolve(res)))
console.log(`${what}: ${result.requests.average} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, non-2xx ${result.non2xx}`)
await stop()
for (const c of cleanups) await c()

interface Node { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, hitCount: number }
const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))!
const profile = JSON.parse(readFileSync(join(profDir, file), 'utf8')) as { nodes: Node[] }
const total = profile.nodes.reduce((n, x) => n + x.hitCount, 0)
const bucket = (url: string) => {
  if (url === '') return '(native/idle)'
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (m) return m[1]
  if (url.startsWith('node:')) return 'node core'
  return url.includes('/src/') ? 'service src' : url
}
const byPackage = new Map<string, number>()
const byFunction = new Map<string, number>()
for (const n of profile.nodes) {
  byPackage.set(bucket(n.callFrame.url), (byPackage.get(bucket(n.callFrame.url)) ?? 0) + n.hitCount)
  const key = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/src\//, 'src/')}:${n.callFrame.lineNumber}`
  byFunction.set(key, (byFunction.get(key) ?? 0) + n.hitCount)
}
const pct = (x: number) => `${(100 * x / total).toFixed(1)}%`
console.log('\nself time by package:')
for (const [k, v] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${pct(v).padStart(6)}  ${k}`)
console.log('\ntop functions (self time):')
for (const [k, v] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${pct(v).padStart(6)}  ${k}`)
console.log(`\nprofile: ${join(profDir, file)}`)
