// One process per embedded database. PGlite is PostgreSQL inside one process:
// a second process on the same files would write beside it unseen (data lost
// at the next start) and keep a revocation list of its own.
//
// The lock is one the kernel holds for the process: an exclusive SQLite lock
// (fcntl) on DATA_DIR/lock.sqlite. A pid in a file cannot be one: a second
// container on the same volume sees another PID namespace (its pid 1 is not
// ours), and taking over a file judged stale races. The kernel's lock works
// across namespaces, is taken or refused in one step (two processes cannot
// both win), and goes with its holder however it ends (SIGKILL, crash), so a
// dead holder never blocks the next start. DATA_DIR/lock.holder only labels
// the holder (pid, what, since, host) for the refusal sentence; the lock is
// the truth. The `lock` file of earlier versions means nothing now.
import { hostname } from 'node:os'
import { join } from 'node:path'
import { realpathSync, renameSync, rmSync, writeFileSync, readFileSync, mkdirSync } from 'node:fs'
import type { DatabaseSync as DatabaseSyncType } from 'node:sqlite'

export class DataDirInUseError extends Error {}

interface Holder { pid: number, what: string, since: string, host: string }

const SQLITE_BUSY = 5
const SQLITE_LOCKED = 6

// Node 22 warns that node:sqlite is experimental when it loads; this module
// uses one lock statement of it, which the service's tests check. Only that
// warning is held back.
function loadSqlite (): typeof import('node:sqlite') {
  const emit = process.emitWarning
  process.emitWarning = function (warning: string | Error, ...rest: unknown[]) {
    if (!String((warning as Error).message ?? warning).startsWith('SQLite is an experimental')) (emit as (...a: unknown[]) => void).call(process, warning, ...rest)
  } as typeof process.emitWarning
  try {
    return process.getBuiltinModule('node:sqlite')
  } finally {
    process.emitWarning = emit
  }
}
let sqlite: typeof import('node:sqlite') | undefined

// fcntl locks do not conflict within one process: this process's own holds
// are kept here (which also keeps each database object, and so its lock,
// alive). Nothing else in this process may open lock.sqlite: closing any
// descriptor of that file would drop the lock (POSIX).
const held = new Map<string, { db: DatabaseSyncType, holder: Holder }>()

function refusal (dir: string, holder: Holder | undefined): DataDirInUseError {
  const who = holder !== undefined
    ? `process ${holder.pid} (${holder.what}, since ${holder.since}, on host ${holder.host})`
    : 'another process (it has not said which yet)'
  return new DataDirInUseError(`DATA_DIR ${dir} is in use by ${who}: the embedded database takes one process at a time. Stop that process first (it may run in another container on the same volume), use the admin API of the running service, or give this one another DATA_DIR`)
}

function readLabel (file: string): Holder | undefined {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8'))
    return Number.isSafeInteger(h.pid) && typeof h.what === 'string' ? h : undefined
  } catch {
    return undefined
  }
}

/** Takes DATA_DIR for this process, or throws DataDirInUseError at once with a sentence naming the holder. */
export function lockDataDir (dir: string, what: string): { release: () => void } {
  mkdirSync(dir, { recursive: true })
  // One folder, however it is named (relative, through a symlink).
  const key = realpathSync(dir)
  const mine = held.get(key)
  if (mine !== undefined) throw refusal(dir, mine.holder)

  sqlite ??= loadSqlite()
  // timeout 0: a lock held elsewhere is refused at once, never waited for.
  const db = new sqlite.DatabaseSync(join(key, 'lock.sqlite'), { timeout: 0 })
  try {
    // Exclusive locking mode keeps the lock until the connection closes; the
    // transaction takes it now. Nothing is ever written to this database.
    db.exec('PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE;')
  } catch (err) {
    db.close()
    const code = (err as { errcode?: number }).errcode
    if (code === SQLITE_BUSY || code === SQLITE_LOCKED) throw refusal(dir, readLabel(join(key, 'lock.holder')))
    throw err
  }

  const holder: Holder = { pid: process.pid, what, since: new Date().toISOString(), host: hostname() }
  held.set(key, { db, holder })
  const label = join(key, 'lock.holder')
  // Written whole beside it, then renamed: a reader never sees half a label.
  const partial = `${label}.${process.pid}.tmp`
  try {
    writeFileSync(partial, JSON.stringify(holder), { mode: 0o644 })
    renameSync(partial, label)
    rmSync(join(key, 'lock'), { force: true })
  } catch {
    // A label that cannot be written costs only the holder's name in another process's refusal.
  }

  let released = false
  const release = () => {
    if (released) return
    released = true
    process.off('exit', release)
    // The label goes first, while the lock is still ours: the next holder's label is never removed.
    try { rmSync(label, { force: true }) } catch {}
    held.delete(key)
    db.close()
  }
  process.on('exit', release)
  return { release }
}
