// Runs in a worker thread: bcrypt never blocks the event loop that answers token checks.
import bcrypt from 'bcryptjs'
import { spawnSync } from 'node:child_process'
import { readlinkSync } from 'node:fs'
import { setPriority } from 'node:os'
import { threadId } from 'node:worker_threads'

// The lowest CPU priority for this thread only (Linux: a thread id is a valid
// target of setpriority and sched_setscheduler): when logins and token checks
// want the same core, the event loop wins, so a login storm slows logins, not
// token checks. SCHED_IDLE (via util-linux chrt) runs the thread only on
// otherwise idle CPU time; nice 19 is the fallback.
export const niceness = (() => {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop())
    setPriority(tid, 19)
    spawnSync('chrt', ['--idle', '--pid', '0', String(tid)], { stdio: 'ignore', timeout: 2000 })
    return 19
  } catch {
    return 0 // not Linux, or not allowed: still off the main thread
  }
})()

/** `pad`: costs of throw-away hashes made after the real work, so that every comparison costs the same (passwords.ts). */
export interface HashTask { op: 'hash', input: string, cost: number, pad: number[] }
export interface CompareTask { op: 'compare', input: string, hash: string, pad: number[] }
export interface ThreadTask { op: 'thread' | 'niceness' }

async function padded<T> (result: Promise<T>, input: string, pad: number[]): Promise<T> {
  const out = await result
  for (const cost of pad) await bcrypt.hash(input, cost)
  return out
}

export default function run (task: HashTask | CompareTask | ThreadTask): Promise<string | boolean | number> | number {
  if (task.op === 'thread') return threadId
  if (task.op === 'hash') return padded(bcrypt.hash(task.input, task.cost), task.input, task.pad)
  if (task.op === 'compare') return padded(bcrypt.compare(task.input, task.hash), task.input, task.pad)
  return niceness
}
