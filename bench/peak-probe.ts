// Where the embedded first start's peak resident memory comes from: each
// stage of opening PGlite on a fresh folder and migrating it, with the
// process's VmHWM (peak RSS) and VmRSS after each. node bench/peak-probe.ts [dir]
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peakMbOf, rssMb } from './service.ts'
import { PGLITE_SHARED_BUFFERS } from '../src/db/pglite-template.ts'

const mem = () => `peak ${peakMbOf(process.pid).toFixed(0)} MB, now ${rssMb(process.pid).toFixed(0)} MB`
const dir = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'peak-'))
console.log('start', mem())
const { PGlite } = await import('@electric-sql/pglite')
console.log('pglite imported', mem())
const pglite = new PGlite(join(dir, 'pgdata'), { postgresqlconf: [`shared_buffers=${PGLITE_SHARED_BUFFERS}`] })
await pglite.waitReady
console.log('pglite ready (initdb on a fresh folder)', mem())
const { PrismaPGlite } = await import('pglite-prisma-adapter')
const { applyMigrations } = await import('../src/db/schema-engine.ts')
const applied = await applyMigrations(new PrismaPGlite(pglite))
console.log(`migrated (${applied.length})`, mem())
await pglite.close()
console.log('closed', mem())
