// Every statement of the paths that grow with the users (login, refresh,
// logout, the revocations and the mirror's reads, the admin list, the prune)
// is served by an index, so a missing index fails here and not at a
// million users. The rule a small database can enforce: the statements are
// caught as the real app sends them to the driver (Prisma's as well as the
// prepared ones), then each is EXPLAINed with enable_seqscan = off. The
// planner then reads a table through an index whenever one can serve the
// statement; a sequential scan left in the plan, or an index read end to end
// (no Index Cond) outside a LIMIT, means none can. Only tables that stay
// small whatever the number of users (Role, SigningKey) may be scanned.
// bench/figures/9-scale.ts measures the same paths at a million users.
import t from 'tap'
import pg from 'pg'
import { buildApp } from '../helpers/app.ts'
import { postgresForSuite } from '../helpers/servers.ts'
import { openPostgres } from '../../src/db/database.ts'
import { createPasswordHasher } from '../../src/passwords/hasher.ts'
import { SCALE_PASSWORD, seedExpired, seedScale } from '../../bench/scale-seed.ts'

const SMALL_TABLES = new Set(['Role', 'SigningKey', '_prisma_migrations'])
const ADMIN = { username: 'plans_admin', password: 'a query plan admin passphrase' }

interface Caught { path: string, text: string, values: unknown[] }
interface PlanNode { 'Node Type': string, 'Relation Name'?: string, 'Index Name'?: string, 'Index Cond'?: string, Filter?: string, Plans?: PlanNode[] }

// The driver's query method, watched: every statement any pool of this
// process sends, with its values, under the path being walked.
const caught: Caught[] = []
let path: string | undefined
const original = pg.Client.prototype.query
pg.Client.prototype.query = function (this: pg.Client, config: unknown, values?: unknown, callback?: unknown) {
  if (path !== undefined) {
    const c = config as { text?: string, values?: unknown[], submit?: unknown }
    if (typeof config === 'string') caught.push({ path, text: config, values: Array.isArray(values) ? values : [] })
    else if (typeof c?.text === 'string' && c.submit === undefined) caught.push({ path, text: c.text, values: c.values ?? (Array.isArray(values) ? values : []) })
  }
  return (original as (...args: unknown[]) => unknown).call(this, config, values, callback)
} as typeof pg.Client.prototype.query
t.teardown(() => { pg.Client.prototype.query = original })

async function walk (name: string, fn: () => Promise<unknown>): Promise<void> {
  path = name
  try { await fn() } finally { path = undefined }
}

/** What reads a big table whole: a sequential scan, or an index read end to end outside a LIMIT. */
function fullReads (node: PlanNode, underLimit = false): string[] {
  const out: string[] = []
  const rel = node['Relation Name']
  if (rel !== undefined && !SMALL_TABLES.has(rel)) {
    if (node['Node Type'] === 'Seq Scan') out.push(`Seq Scan on "${rel}"${node.Filter !== undefined ? ` (Filter: ${node.Filter})` : ''}`)
    const indexRead = node['Node Type'] === 'Index Scan' || node['Node Type'] === 'Index Only Scan'
    if (indexRead && node['Index Cond'] === undefined && (!underLimit || node.Filter !== undefined)) out.push(`${node['Node Type']} of all of "${node['Index Name']}" on "${rel}"${node.Filter !== undefined ? ` (Filter: ${node.Filter})` : ''}`)
  }
  const limit = underLimit || node['Node Type'] === 'Limit'
  for (const child of node.Plans ?? []) out.push(...fullReads(child, limit && child['Node Type'] !== 'Sort'))
  return out
}

const dataStatement = (text: string) => /^\s*(WITH|SELECT|INSERT|UPDATE|DELETE)\b/i.test(text) && /"[A-Z][A-Za-z]+"/.test(text)

t.test('every query of the login, refresh, logout, revocation, admin-list and prune paths is served by an index', async (t) => {
  const db = await postgresForSuite()
  t.teardown(db.drop)
  const migrated = await openPostgres(db.url)
  await migrated.migrate()
  await migrated.close()
  const hasher = createPasswordHasher({ cost: 4, workers: 1 })
  const hash = await hasher.hash(SCALE_PASSWORD)
  await hasher.close()
  // Enough rows that every index exists in earnest and the statistics are real (VACUUM ANALYZE).
  const seeded = await seedScale(db.url, { users: 10_000, revokedSessions: 2000, userRevocations: 100 }, hash)
  await seedExpired(db.url, seeded, { sessions: 500, tokens: 5000 })
  const { app } = await buildApp(t, { backend: 'real', databaseUrl: db.url, env: { ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password } })
  const names = seeded.names
  const post = async (url: string, payload: object, headers: Record<string, string> = {}) => app.inject({ method: 'POST', url, payload, headers: { 'x-auth-mode': 'header', ...headers } })
  const login = async (username: string, password: string) => {
    const r = await post('/auth/login', { username, password })
    t.equal(r.statusCode, 200, `${username} logs in`)
    return r.json() as { access_token: string, refresh_token: string, user: { id: string } }
  }
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

  const admin = await login(ADMIN.username, ADMIN.password)
  let tokens = { access_token: '', refresh_token: '' }
  await walk('login', async () => { tokens = await login(names.username(10), SCALE_PASSWORD) })
  await walk('refresh', async () => {
    const r = await post('/auth/refresh', { refresh_token: tokens.refresh_token })
    t.equal(r.statusCode, 200, 'a refresh rotates the token')
    // A seeded session's token, and a token presented again (the reuse check reads the chain).
    t.equal((await post('/auth/refresh', { refresh_token: names.refreshToken(20) })).statusCode, 200, 'a seeded session refreshes')
    await post('/auth/refresh', { refresh_token: tokens.refresh_token })
    tokens = r.json()
  })
  await walk('logout', async () => {
    const r = await post('/auth/logout', { refresh_token: tokens.refresh_token }, bearer(tokens.access_token))
    t.equal(r.statusCode, 204, 'a logout ends the session')
  })
  await walk('revocation', async () => {
    const other = await login(names.username(30), SCALE_PASSWORD)
    t.equal((await post('/auth/logout-all', {}, bearer(other.access_token))).statusCode, 204, 'logout-all')
    const id = names.userId(40)
    t.equal((await app.inject({ method: 'PUT', url: `/admin/users/${id}/roles`, payload: { roles: ['user', 'admin'] }, headers: bearer(admin.access_token) })).statusCode, 200, 'a role change')
    t.equal((await app.inject({ method: 'PATCH', url: `/admin/users/${id}`, payload: { disabled: true }, headers: bearer(admin.access_token) })).statusCode, 200, 'a disable')
    t.equal((await app.inject({ method: 'POST', url: `/admin/users/${names.userId(50)}/logout`, headers: bearer(admin.access_token) })).statusCode, 204, 'an admin logout')
    // What every mirror reads: at start (all that can matter) and every few seconds (what changed).
    t.ok((await app.revocationRecord.since()).length >= 2100, 'the durable record holds the seeded revocations')
    await app.revocationRecord.since(new Date(Date.now() - 60_000))
  })
  await walk('admin-list', async () => {
    const first = await app.inject({ method: 'GET', url: '/admin/users?limit=100', headers: bearer(admin.access_token) })
    t.equal(first.statusCode, 200, 'the first page')
    const next = await app.inject({ method: 'GET', url: `/admin/users?limit=100&cursor=${first.json().nextCursor}`, headers: bearer(admin.access_token) })
    t.equal(next.statusCode, 200, 'a page by cursor')
  })
  await walk('prune', async () => {
    const pruned = await app.sessions.prune()
    t.ok(pruned.sessions >= 500 && pruned.tokens >= 5000, 'the prune deletes the expired rows')
    // The other expiring rows, where the service has them.
    const prunable = app as unknown as Record<string, { prune?: () => Promise<unknown> } | undefined>
    for (const name of ['passwordLife', 'mfaTokens', 'passkeys', 'events']) await prunable[name]?.prune?.()
  })

  const explainer = new pg.Client({ connectionString: db.url })
  await explainer.connect()
  t.teardown(() => explainer.end())
  // Sequential scans priced out, and random reads priced as on an SSD: a
  // selective index lookup then always beats reading a whole index, as it
  // does on a big table (on a small one the planner may read a whole small
  // index instead, which says nothing about a missing index).
  await explainer.query('SET enable_seqscan = off')
  await explainer.query('SET random_page_cost = 1.1')
  const explain = async (text: string, values: unknown[]) =>
    (await explainer.query({ text: `EXPLAIN (FORMAT JSON) ${text}`, values })).rows[0]['QUERY PLAN'][0].Plan as PlanNode

  // The rule itself catches a statement no index serves.
  t.match(fullReads(await explain('SELECT id FROM "Session" WHERE "userAgent" = $1', ['x'])), [/Seq Scan on "Session"|of all of/], 'a statement no index serves is caught')

  for (const name of ['login', 'refresh', 'logout', 'revocation', 'admin-list', 'prune']) {
    const statements = caught.filter((c) => c.path === name && dataStatement(c.text))
    t.ok(statements.length > 0, `${name}: its statements were caught`)
    const misses: string[] = []
    const seen = new Set<string>()
    for (const s of statements) {
      if (seen.has(s.text)) continue
      seen.add(s.text)
      const reads = fullReads(await explain(s.text, s.values))
      if (reads.length > 0) misses.push(`${reads.join('; ')}\n    in: ${s.text.replace(/\s+/g, ' ').slice(0, 300)}`)
    }
    t.same(misses, [], `${name}: every table that grows is read through an index (${seen.size} statements)`)
  }
})
