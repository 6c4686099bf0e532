// npm run db:make-migration -- <name>: writes prisma/migrations/<stamp>_<name>/migration.sql
// with what schema.prisma adds to the committed migrations (diffed on an
// in-memory PGlite, so it needs no server).
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { PrismaPGlite } from 'pglite-prisma-adapter'
import { openSchemaEngine, pendingSchemaChange, migrationsDir } from '../src/db/schema-engine.ts'

const name = (process.argv[2] ?? 'change').replace(/[^a-z0-9_]/gi, '_').toLowerCase()
const pglite = new PGlite()
const engine = await openSchemaEngine(new PrismaPGlite(pglite))
const sql = await pendingSchemaChange(engine)
if (sql === '') {
  console.log('schema.prisma and prisma/migrations agree: nothing to write')
} else {
  const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14)
  const dir = join(migrationsDir, `${stamp}_${name}`)
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'migration.sql'), sql)
  await writeFile(join(migrationsDir, 'migration_lock.toml'), '# Written by npm run db:make-migration\nprovider = "postgresql"\n')
  console.log(`wrote ${dir}/migration.sql`)
}
await pglite.close()
