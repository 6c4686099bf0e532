// A unique violation is recognised whether it comes from a model query or a
// raw statement (the refresh rotation is raw SQL), on both databases.
import t from 'tap'
import { openPGlite, openPostgres } from '../../src/db/database.ts'
import { isUniqueViolation } from '../../src/db/errors.ts'
import { postgresForSuite } from '../helpers/servers.ts'

for (const backend of ['pglite', 'postgresql'] as const) {
  t.test(backend, async (t) => {
    const pg = backend === 'postgresql' ? await postgresForSuite() : undefined
    const db = pg !== undefined ? await openPostgres(pg.url) : await openPGlite(undefined)
    t.teardown(async () => { await db.close(); await pg?.drop() })
    await db.migrate()
    await db.prisma.role.create({ data: { name: 'dup-role' } })
    const model = await db.prisma.role.create({ data: { name: 'dup-role' } }).then(() => ({ code: 'none' }), (err: { code?: string }) => err)
    t.ok(isUniqueViolation(model), `model query: ${model.code}`)
    const raw = await db.prisma.$queryRaw`INSERT INTO "Role" (name) VALUES (${'dup-role'})`.then(() => ({ code: 'none' }), (err: { code?: string }) => err)
    t.ok(isUniqueViolation(raw), `raw statement: ${raw.code}`)
    const other = await db.prisma.$queryRaw`INSERT INTO "Role" (name) VALUES (${null})`.then(() => ({ code: 'none' }), (err: { code?: string }) => err)
    t.notOk(isUniqueViolation(other), `another constraint is not one: ${other.code}`)
    const insertRole = { name: 'test_insert_role', text: 'INSERT INTO "Role" (name) VALUES ($1)' }
    const direct = await db.query(insertRole, ['dup-role']).then(() => ({ code: 'none' }), (err: { code?: string }) => err)
    t.ok(isUniqueViolation(direct), `driver statement: ${direct.code}`)
    const directOther = await db.query(insertRole, [null]).then(() => ({ code: 'none' }), (err: { code?: string }) => err)
    t.notOk(isUniqueViolation(directOther), `another constraint from the driver is not one: ${directOther.code}`)
  })
}
