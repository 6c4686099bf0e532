// Runs in a worker thread: bcrypt never blocks the event loop that answers token checks.
import bcrypt from 'bcryptjs'
import { threadId } from 'node:worker_threads'

export interface HashTask { op: 'hash', input: string, cost: number }
export interface CompareTask { op: 'compare', input: string, hash: string }
export interface ThreadTask { op: 'thread' }

export default function run (task: HashTask | CompareTask | ThreadTask): Promise<string | boolean | number> | number {
  if (task.op === 'thread') return threadId
  if (task.op === 'hash') return bcrypt.hash(task.input, task.cost)
  return bcrypt.compare(task.input, task.hash)
}
