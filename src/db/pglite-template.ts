// A fresh embedded database is a copy of a template, not an initdb.
//
// PGlite's initdb, run in the service's process, took its peak resident
// memory to about 1.1 GB (bench/peak-probe.ts): a 512 MB container was
// killed at its first start. The template (initdb'd and migrated once, per
// PGlite version and set of migrations) is made by a process of its own, at
// build time (`npm run build`, the Dockerfile's build stage) or, when it is
// missing, by a child process at the first start; the service then copies
// its files into DATA_DIR and opens them as it opens any existing database.
//
//   node src/db/pglite-template.ts [--if-embedded]   makes the template if it is missing
//                                                    (--if-embedded: not when DATABASE_URL is set)
import { fork } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { applyMigrations, readMigrations } from './schema-engine.ts'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const TEMPLATES = process.env.PGLITE_TEMPLATE_DIR ?? join(root, '.cache', 'pglite-template')
// The shared buffers the service opens PGlite with (database.ts), here too.
export const PGLITE_SHARED_BUFFERS = '16MB'
const PGLITE_OPTIONS = { postgresqlconf: [`shared_buffers=${PGLITE_SHARED_BUFFERS}`] }

/** The template's folder: one per PGlite version and set of migrations. */
export async function templatePath (): Promise<string> {
  const pgliteVersion = JSON.parse(readFileSync(join(dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite')), '..', 'package.json'), 'utf8')).version
  const hash = createHash('sha256').update(pgliteVersion)
  for (const m of (await readMigrations()).migrationDirectories) {
    hash.update('\0').update(m.path).update('\0').update(m.migrationFile.content.tag === 'ok' ? m.migrationFile.content.value : '')
  }
  return join(TEMPLATES, `${pgliteVersion}-${hash.digest('hex').slice(0, 16)}`)
}

/** Makes the template in this process (the memory peak is this process's). */
export async function makeTemplate (): Promise<string> {
  const target = await templatePath()
  if (existsSync(target)) return target
  const { PGlite } = await import('@electric-sql/pglite')
  const { PrismaPGlite } = await import('pglite-prisma-adapter')
  mkdirSync(TEMPLATES, { recursive: true })
  // Made beside its final place, then renamed: a half-made template is never used.
  const partial = `${target}.partial-${process.pid}-${randomBytes(4).toString('hex')}`
  try {
    const pglite = new PGlite(partial, PGLITE_OPTIONS)
    await pglite.waitReady
    await applyMigrations(new PrismaPGlite(pglite))
    await pglite.close()
    renameSync(partial, target)
  } catch (err) {
    rmSync(partial, { recursive: true, force: true })
    // Another process made it meanwhile: theirs is as good.
    if (!existsSync(target)) throw err
  }
  return target
}

/** The template, made by a child process if it is missing (the child's memory peak ends with it). */
export async function ensureTemplate (): Promise<string> {
  const target = await templatePath()
  if (existsSync(target)) return target
  const script = fileURLToPath(new URL(`./pglite-template${extname(import.meta.url)}`, import.meta.url))
  await new Promise<void>((resolve, reject) => {
    // --liftoff-only: WebAssembly compiled without the optimizing tier, whose
    // compile-time memory is most of initdb's peak (1.1 GB against 0.55 GB).
    const child = fork(script, [], { execArgv: ['--liftoff-only'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    child.once('error', reject)
    child.once('exit', (code) => code === 0 ? resolve() : reject(new Error(`making the embedded database template failed (exit ${code})`)))
  })
  return target
}

/**
 * A new embedded database at `pgdata`, copied from the template. When no
 * template can be had (a read-only install, say), nothing is copied and
 * PGlite's own initdb makes the database, as before, at its memory cost.
 */
export async function createFromTemplate (pgdata: string): Promise<void> {
  let template: string
  try {
    template = await ensureTemplate()
  } catch (err) {
    process.emitWarning(`no embedded database template (${(err as Error).message}): running initdb in this process, which needs about 1 GB of memory once`)
    return
  }
  const partial = `${pgdata}.partial`
  rmSync(partial, { recursive: true, force: true })
  cpSync(template, partial, { recursive: true })
  renameSync(partial, pgdata)
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  // npm start's prestart: only where the service will run on the embedded database.
  if (process.argv.includes('--if-embedded') && (process.env.DATABASE_URL ?? '') !== '') process.exit(0)
  makeTemplate().then(
    (path) => { console.log(`embedded database template: ${path}`) },
    (err) => { console.error(`error: ${err.message}`); process.exitCode = 1 }
  )
}
