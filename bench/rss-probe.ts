// Where the service's memory goes: RSS after start and after some traffic, for
// variants of the configuration, on PostgreSQL + Redis.
//   node bench/rss-probe.ts
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { postgresForSuite, startOwnRedis, stopSharedPostgres } from '../test/helpers/servers.ts'
import { rssMb, startService } from './service.ts'

const pg = await postgresForSuite()
const redis = await startOwnRedis()
const rss = (pid: number) => Math.round(rssMb(pid))
const variants: Array<[string, Record<string, string>, string[], string?]> = [
  // startService runs npm start's command: dist/server.js (compiled),
  // MALLOC_ARENA_MAX=2 and --max-semi-space-size=2.
  ['as npm start', {}, []],
  ['TypeScript sources (strip)', {}, [], 'src/server.ts'],
  ['glibc default arenas', { MALLOC_ARENA_MAX: '' }, []],
  ['V8 default young generation', {}, ['--max-semi-space-size=32']],
  ['MIGRATE_ON_START=false', { MIGRATE_ON_START: 'false' }, []],
  ['embedded (PGlite)', { DATABASE_URL: '', REDIS_URL: '' }, []]
]
for (const [name, extra, flags, script] of variants) {
  const { base, proc, stop } = await startService({ BCRYPT_COST: '10', DATA_DIR: mkdtempSync(join(tmpdir(), 'auth-rss-')), DATABASE_URL: pg.url, REDIS_URL: redis.url, ...extra }, { nodeFlags: flags, script })
  const afterStart = rss(proc.pid!)
  const post = (path: string, body: unknown) => fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify(body) }).then((r) => r.json())
  const user = { username: `rss_${randomBytes(4).toString('hex')}`, password: 'a profiling passphrase' }
  await post('/auth/register', user)
  let tokens = await post('/auth/login', user)
  for (let i = 0; i < 20; i++) await post('/auth/login', user)
  for (let i = 0; i < 300; i++) tokens = await post('/auth/refresh', { refresh_token: tokens.refresh_token })
  await Promise.all(Array.from({ length: 2000 }, () => fetch(`${base}/auth/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } }).then((r) => r.arrayBuffer())))
  console.log(`${name.padEnd(28)} after start ${afterStart} MB, after traffic ${rss(proc.pid!)} MB`)
  await stop()
}
await pg.drop()
await stopSharedPostgres()
await redis.stop()
