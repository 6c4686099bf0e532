// Database.query, the driver-level path of the refresh hot statements: the
// same rows and types on both databases, and a prepared statement that keeps
// working when it is run again with other values.
import t from 'tap'
import { openPGlite, openPostgres } from '../../src/db/database.ts'
import { postgresForSuite } from '../helpers/servers.ts'

const probe = {
  name: 'test_probe_v1',
  text: `SELECT $1::timestamptz AS at, $2::uuid AS id, ARRAY[$3::text, 'b']::text[] AS names,
                '{}'::text[] AS none, NULL::timestamptz AS missing, 2::int AS two, true AS yes`
}

for (const backend of ['pglite', 'postgresql'] as const) {
  t.test(backend, async (t) => {
    const pg = backend === 'postgresql' ? await postgresForSuite() : undefined
    const db = pg !== undefined ? await openPostgres(pg.url) : await openPGlite(undefined)
    t.teardown(async () => { await db.close(); await pg?.drop() })
    for (const [at, id, name] of [
      [new Date('2026-01-02T03:04:05.678Z'), '0b4c6a43-5c1e-4f3e-9d55-0f6b8a1f2c3d', 'a'],
      [new Date('2030-12-31T23:59:59.001Z'), 'f1e2d3c4-b5a6-4789-8abc-def012345678', 'z']
    ] as const) {
      const rows = await db.query<Record<string, unknown>>(probe, [at, id, name])
      t.equal(rows.length, 1)
      const row = rows[0]
      t.ok(row.at instanceof Date, 'timestamptz comes back as a Date')
      t.equal((row.at as Date).toISOString(), at.toISOString(), 'to the millisecond, in UTC')
      t.equal(row.id, id)
      t.same(row.names, [name, 'b'], 'a text array comes back as an array')
      t.same(row.none, [])
      t.equal(row.missing, null)
      t.equal(row.two, 2)
      t.equal(row.yes, true)
    }
    t.same(await db.query({ name: 'test_empty_v1', text: 'SELECT 1 WHERE false' }, []), [], 'no rows is an empty array')
    await t.rejects(db.query({ name: 'test_bad_v1', text: 'SELECT * FROM "NoSuchTable"' }, []), 'a bad statement rejects')
  })
}

// PGlite runs each statement on the event loop's thread. A burst of hot
// statements (logins arriving together) must let the loop answer other
// requests between two statements, not hold it for the whole burst.
t.test('pglite: a burst of statements takes turns with the event loop', async (t) => {
  const db = await openPGlite(undefined)
  t.teardown(() => db.close())
  const work = { name: 'test_turns_v1', text: 'SELECT count(*)::int AS n FROM generate_series(1, 2000)' }
  await db.query(work, [])
  for (let round = 0; round < 20; round++) {
    let done = 0
    const burst = Array.from({ length: 10 }, () => db.query(work, []).then(() => { done++ }))
    // What a request arriving now would wait for: the next turn of the event loop.
    const seen = await new Promise<number>((resolve) => setTimeout(() => resolve(done), 0))
    await Promise.all(burst)
    t.ok(seen <= 2, `round ${round}: the loop turned after ${seen} of 10 statements`)
    t.equal(done, 10)
  }
  t.same(await Promise.all([db.query(work, []), db.query({ name: 'test_turns_bad_v1', text: 'SELECT * FROM "NoSuchTable"' }, []).catch(() => 'refused'), db.query(work, [])]),
    [[{ n: 2000 }], 'refused', [{ n: 2000 }]], 'a statement that fails does not stop the ones queued behind it')
})
