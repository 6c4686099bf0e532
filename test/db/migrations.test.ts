// The committed migrations are exactly schema.prisma, apply on both backends,
// and instances starting together against one empty database migrate once.
import t from 'tap'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { PrismaPGlite } from 'pglite-prisma-adapter'
import { openSchemaEngine, pendingSchemaChange } from '../../src/db/schema-engine.ts'
import { openPGlite, openPostgres } from '../../src/db/database.ts'
import { postgresForSuite } from '../helpers/servers.ts'

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
  t.ok((await db.migrate()).length > 0)
  t.same(await db.migrate(), [], 'nothing pending the second time')
  await db.prisma.user.create({ data: { id: '00000000-0000-4000-8000-000000000001', username: 'Keep', usernameKey: 'keep', passwordHash: 'x' } })
  await db.close()
  const again = await openPGlite(dir)
  t.same(await again.migrate(), [])
  t.equal((await again.prisma.user.findUnique({ where: { usernameKey: 'keep' } }))?.username, 'Keep')
  t.same((await again.prisma.role.findMany({ orderBy: { name: 'asc' } })).map((r) => r.name), ['admin', 'user'], 'roles are seeded')
  await again.close()
})

t.test('PostgreSQL: three instances starting at once migrate exactly once', async (t) => {
  const pg = await postgresForSuite()
  t.teardown(pg.drop)
  const dbs = await Promise.all([1, 2, 3].map(() => openPostgres(pg.url)))
  const applied = await Promise.all(dbs.map((d) => d.migrate()))
  t.equal(applied.flat().length, 1, 'one instance applied the one migration; the others found nothing to do')
  const rows = await dbs[0].prisma.$queryRawUnsafe<Array<{ n: bigint }>>('SELECT count(*) AS n FROM _prisma_migrations')
  t.equal(Number(rows[0].n), 1, 'recorded once in _prisma_migrations')
  t.same((await dbs[1].prisma.role.findMany({ orderBy: { name: 'asc' } })).map((r) => r.name), ['admin', 'user'])
  await Promise.all(dbs.map((d) => d.close()))
})
