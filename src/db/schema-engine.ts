// Prisma's schema engine, WebAssembly build: makes and applies migrations with
// no native binary to download. The package is built for bundlers, so it is
// instantiated here by hand.
import { readFile, readdir } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils'
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils'
import type { MigrationList, SchemaEngine as Engine } from '@prisma/schema-engine-wasm/schema_engine_bg'

const require = createRequire(import.meta.url)
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const schemaPath = join(root, 'prisma', 'schema.prisma')
export const migrationsDir = join(root, 'prisma', 'migrations')

type Bindings = typeof import('@prisma/schema-engine-wasm/schema_engine_bg')
let bindings: Promise<Bindings> | undefined

function loadBindings (): Promise<Bindings> {
  bindings ??= (async () => {
    const glue = await import('@prisma/schema-engine-wasm/schema_engine_bg') as Bindings
    const wasmPath = join(dirname(require.resolve('@prisma/schema-engine-wasm/schema_engine_bg')), 'schema_engine_bg.wasm')
    // The engine leaves an idle timer behind after free(); unref'd, it no
    // longer holds a finished migration (or a CLI) open for ten seconds.
    const imports: Record<string, unknown> = { ...glue }
    for (const [name, fn] of Object.entries(glue)) {
      if (name.startsWith('__wbg_setTimeout_') && typeof fn === 'function') {
        imports[name] = (...args: unknown[]) => {
          const timer = (fn as (...a: unknown[]) => unknown)(...args)
          ;(timer as { unref?: () => void })?.unref?.()
          return timer
        }
      }
    }
    const { instance } = await WebAssembly.instantiate(await readFile(wasmPath), {
      './schema_engine_bg.js': imports as WebAssembly.ModuleImports
    })
    glue.__wbg_set_wasm(instance.exports)
    ;(instance.exports.__wbindgen_start as () => void)()
    return glue
  })()
  return bindings
}

/** Whether this process has loaded the engine (the service on PostgreSQL never does: see migrate-worker.ts). */
export const schemaEngineLoaded = (): boolean => bindings !== undefined

export async function openSchemaEngine (adapter: SqlMigrationAwareDriverAdapterFactory): Promise<Engine> {
  const { SchemaEngine } = await loadBindings()
  const datamodel = await readFile(schemaPath, 'utf8')
  return SchemaEngine.new({ datamodels: [[schemaPath, datamodel]] }, () => {}, bindMigrationAwareSqlAdapterFactory(adapter))
}

export async function readMigrations (): Promise<MigrationList> {
  const entries = (await readdir(migrationsDir, { withFileTypes: true }).catch(() => []))
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()
  const lockPath = join(migrationsDir, 'migration_lock.toml')
  const lock = await readFile(lockPath, 'utf8').catch(() => null)
  return {
    baseDir: migrationsDir,
    lockfile: { path: 'migration_lock.toml', content: lock },
    shadowDbInitScript: '',
    migrationDirectories: await Promise.all(entries.map(async (name) => ({
      path: name,
      migrationFile: {
        path: 'migration.sql',
        content: { tag: 'ok' as const, value: await readFile(join(migrationsDir, name, 'migration.sql'), 'utf8') }
      }
    })))
  }
}

export const noFilters = { externalTables: [], externalEnums: [] }

/** Applies the pending migrations of prisma/migrations through `adapter`; their names. The engine is freed after. */
export async function applyMigrations (adapter: SqlMigrationAwareDriverAdapterFactory): Promise<string[]> {
  const engine = await openSchemaEngine(adapter)
  try {
    return (await engine.applyMigrations({ migrationsList: await readMigrations(), filters: noFilters })).appliedMigrationNames
  } finally {
    engine.free()
  }
}

/** The SQL that takes the committed migrations to schema.prisma: empty when they agree. */
export async function pendingSchemaChange (engine: Engine): Promise<string> {
  const datamodel = await readFile(schemaPath, 'utf8')
  const migrations = await readMigrations()
  const result = await engine.diff({
    from: migrations.migrationDirectories.length === 0 ? { tag: 'empty' } : { tag: 'migrations', ...migrations },
    to: { tag: 'schemaDatamodel', files: [{ path: schemaPath, content: datamodel }] },
    script: true,
    exitCode: null,
    filters: noFilters
  })
  const sql = result.stdout ?? ''
  return /^\s*(--.*\s*)*$/.test(sql) ? '' : sql
}
