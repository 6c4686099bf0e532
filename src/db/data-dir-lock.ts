// One process per embedded database. PGlite is PostgreSQL inside one process:
// a second process on the same files would write beside it unseen (data lost
// at the next start) and keep a revocation list of its own. The first process
// holds DATA_DIR/lock (its pid and what it is); another refuses at once,
// naming it. A lock left by a process that no longer runs is taken over.
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'

export class DataDirInUseError extends Error {}

interface Holder { pid: number, what: string, since: string, start?: string }

/** The kernel's start time of a process (Linux), so that a recycled pid is not taken for the holder. */
function startTimeOf (pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

function isRunning (holder: Holder): boolean {
  try {
    process.kill(holder.pid, 0)
  } catch (err) {
    if ((err as { code?: string }).code !== 'EPERM') return false
  }
  const start = startTimeOf(holder.pid)
  return holder.start === undefined || start === undefined || start === holder.start
}

function readHolder (file: string): Holder | undefined {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8'))
    return Number.isSafeInteger(h.pid) ? h : undefined
  } catch {
    return undefined
  }
}

/** Takes DATA_DIR for this process, or throws DataDirInUseError with a sentence naming the holder. */
export function lockDataDir (dir: string, what: string): { release: () => void } {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'lock')
  const me: Holder = { pid: process.pid, what, since: new Date().toISOString(), start: startTimeOf(process.pid) }
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number
    try {
      fd = openSync(file, 'wx', 0o600)
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err
      const holder = readHolder(file)
      // Our own pid counts too: in a container the service is pid 1 at every start, and the start time tells a
      // previous run (taken over) from this process opening the same folder twice (refused).
      if (holder !== undefined && isRunning(holder)) {
        throw new DataDirInUseError(`DATA_DIR ${dir} is in use by process ${holder.pid} (${holder.what}, since ${holder.since}): the embedded database takes one process at a time. Stop that process first, use the admin API of the running service, or give this one another DATA_DIR`)
      }
      // Left by a process that is gone (or half-written by one that died writing it).
      try { unlinkSync(file) } catch {}
      continue
    }
    writeSync(fd, JSON.stringify(me))
    closeSync(fd)
    let released = false
    const release = () => {
      if (released) return
      released = true
      process.off('exit', release)
      if (readHolder(file)?.pid === process.pid) { try { unlinkSync(file) } catch {} }
    }
    process.on('exit', release)
    return { release }
  }
  throw new DataDirInUseError(`DATA_DIR ${dir}: could not take its lock file ${file}; another process keeps taking it`)
}
