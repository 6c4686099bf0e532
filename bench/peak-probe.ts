// Where the embedded first start's peak resident memory comes from: each
// stage of opening PGlite on a fresh folder and migrating it, with the
// process's VmHWM (peak RSS) and VmRSS after each. node bench/peak-probe.ts [dir]
import { readFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const mem = () => {
  const s = readFileSync('/proc/self/status', 'utf8')
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)![1]) / 1024
  return `peak ${kb('VmHWM').toFixed(0)} MB, now ${kb('VmRSS').toFixed(0)} MB`
}
const dir = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'peak-'))
console.log('start', mem())
const { PGlite } = await import('@electric-sql/pglite')
console.log('pglite imported', mem())
const pglite = new PGlite(join(dir, 'pgdata'), { postgresqlconf: ['shared_buffers=16MB'] })
await pglite.waitReady
console.log('pglite ready (initdb on a fresh folder)', mem())
const { PrismaPGlite } = await import('pglite-prisma-adapter')
const { openSchemaEngine, readMigrations, noFilters } = await import('../src/db/schema-engine.ts')
const engine = await openSchemaEngine(new PrismaPGlite(pglite))
console.log('schema engine open', mem())
const out = await engine.applyMigrations({ migrationsList: await readMigrations(), filters: noFilters })
engine.free()
console.log(`migrated (${out.appliedMigrationNames.length})`, mem())
await pglite.close()
console.log('closed', mem())
