// The committed migrations are exactly schema.prisma, apply on both backends,
// and instances starting together against one empty database migrate once.
import t from 'tap'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { PrismaPGlite } from 'pglite-prisma-adapter'
import { openSchemaEngine, pendingSchemaChange } from '../../src/db/schema-engine.ts'
import { openPGlite, openPostgres, PGLITE_SHARED_BUFFERS } from '../../src/db/database.ts'
import { freePort, postgresForSuite } from '../helpers/servers.ts'
import { committedMigrations } from '../helpers/migrations.ts'

t.test('the committed migrations match schema.prisma (no drift)', async (t) => {
  const pglite = new PGlite()
  const engine = await openSchemaEngine(new PrismaPGlite(pglite))
  t.equal(await pendingSchemaChange(engine), '', 'npm run db:make-migration would write nothing')
  engine.free()
  await pglite.close()
})

t.test('PGlite: migrations apply once and data survives a reopen', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pglite-'))
  const db = await openPGlite(dir)
  t.same(await db.migrate(), [], 'a new database is a copy of the migrated template: nothing pending')
  const recorded = await db.prisma.$queryRawUnsafe<Array<{ name: string }>>('SELECT migration_name AS name FROM _prisma_migrations ORDER BY migration_name')
  t.same(recorded.map((r) => r.name), committedMigrations, 'every committed migration is recorded as applied')
  const memory = await openPGlite(undefined)
  t.same(await memory.migrate(), committedMigrations, 'a database not made from the template gets every migration')
  t.same(await memory.migrate(), [], 'nothing pending the second time')
  await memory.close()
  await db.prisma.user.create({ data: { id: '00000000-0000-4000-8000-000000000001', username: 'Keep', usernameKey: 'keep', passwordHash: 'x' } })
  await db.close()
  const again = await openPGlite(dir)
  t.same(await again.migrate(), [])
  t.equal((await again.prisma.user.findUnique({ where: { usernameKey: 'keep' } }))?.username, 'Keep')
  t.same((await again.prisma.role.findMany({ orderBy: { name: 'asc' } })).map((r) => r.name), ['admin', 'user'], 'roles are seeded')
  // The memory setting holds on a created and on a reopened data folder.
  t.same(await again.prisma.$queryRawUnsafe('SHOW shared_buffers'), [{ shared_buffers: PGLITE_SHARED_BUFFERS }], `shared_buffers ${PGLITE_SHARED_BUFFERS}, not PostgreSQL's 128MB`)
  await again.close()
})

t.test('PostgreSQL: three instances starting at once migrate exactly once', async (t) => {
  const pg = await postgresForSuite()
  t.teardown(pg.drop)
  const dbs = await Promise.all([1, 2, 3].map(() => openPostgres(pg.url)))
  const applied = await Promise.all(dbs.map((d) => d.migrate()))
  t.equal(applied.flat().length, committedMigrations.length, 'one instance applied each migration once; the others found nothing to do')
  t.same(applied.filter((a) => a.length > 0).length, 1, 'all of them by one instance')
  const rows = await dbs[0].prisma.$queryRawUnsafe<Array<{ n: bigint }>>('SELECT count(*) AS n FROM _prisma_migrations')
  t.equal(Number(rows[0].n), committedMigrations.length, 'each recorded once in _prisma_migrations')
  t.same((await dbs[1].prisma.role.findMany({ orderBy: { name: 'asc' } })).map((r) => r.name), ['admin', 'user'])
  await Promise.all(dbs.map((d) => d.close()))
})

t.test('PostgreSQL: the schema engine runs in a child process, and its failure is a clear error', async (t) => {
  // Run alone: the other tests here load the engine in this process on purpose.
  const { spawnSync } = await import('node:child_process')
  const pg = await postgresForSuite()
  t.teardown(pg.drop)
  const script = `
    import { openPostgres } from './src/db/database.ts'
    import { schemaEngineLoaded } from './src/db/schema-engine.ts'
    const db = await openPostgres(process.env.URL)
    const applied = await db.migrate()
    const roles = (await db.prisma.role.findMany({ orderBy: { name: 'asc' } })).map((r) => r.name)
    console.log(JSON.stringify({ applied: applied.length, roles, loaded: schemaEngineLoaded() }))
    await db.close()
    const down = await openPostgres('postgresql://nobody@127.0.0.1:' + process.env.DEAD_PORT + '/none')
    const err = await down.migrate().then(() => null, (e) => e.message)
    console.log(JSON.stringify({ err }))
    await down.close()
  `
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, URL: pg.url, DEAD_PORT: String(await freePort()) }, encoding: 'utf8', timeout: 60_000 })
  t.equal(run.status, 0, run.stderr.slice(-800))
  const [first, second] = run.stdout.trim().split('\n').map((l) => JSON.parse(l))
  t.equal(first.applied, committedMigrations.length, 'the migrations were applied')
  t.same(first.roles, ['admin', 'user'], 'and its seed is there')
  t.equal(first.loaded, false, 'the service process never loaded the schema engine')
  t.match(second.err, /ECONNREFUSED|connect/, 'an unreachable database: migrate() rejects with the cause, it does not hang')
})
