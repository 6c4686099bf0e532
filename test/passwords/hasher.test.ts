import t from 'tap'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { threadId } from 'node:worker_threads'
import { eventually } from '../helpers/servers.ts'
import { createPasswordHasher } from '../../src/passwords/hasher.ts'
import { isCommonPassword, passwordLength } from '../../src/passwords/policy.ts'

t.test('hashing runs off the main thread and leaves the event loop free', async (t) => {
  const hasher = createPasswordHasher({ cost: 10, workers: 1 })
  t.teardown(() => hasher.close())
  t.not(await hasher.workerThreadId(), threadId, 'the work runs in a worker thread')
  let ticks = 0
  let spinning = true
  const spin = () => { ticks++; if (spinning) setImmediate(spin) }
  setImmediate(spin)
  const hash = await hasher.hash('a password of some length')
  spinning = false
  // A cost-10 bcrypt on the main thread would let the loop turn about once.
  t.ok(ticks > 20, `the event loop kept turning during the hash (${ticks} turns)`)
  t.ok(await hasher.verify('a password of some length', hash))
  t.notOk(await hasher.verify('a password of some length!', hash))
  t.match(hash, /^\$2[aby]\$10\$/)
})

t.test('the hashing threads run at the lowest CPU priority; the event loop does not', { skip: process.platform !== 'linux' && 'thread priorities are read from /proc' }, async (t) => {
  const hasher = createPasswordHasher({ cost: 4, workers: 2 })
  t.teardown(() => hasher.close())
  t.equal(await hasher.workerNiceness(), 19, 'the worker says it lowered itself')
  // As the kernel sees it: the nice value is field 19 of /proc/<pid>/task/<tid>/stat.
  // Scheduling policy is field 41 (5 = SCHED_IDLE, set with util-linux chrt when present).
  const stat = (tid: string) => readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')
  const nice = (tid: string) => Number(stat(tid)[16])
  const policy = (tid: string) => Number(stat(tid)[38])
  t.equal(nice(String(process.pid)), 0, 'the main thread keeps the normal priority')
  t.equal(policy(String(process.pid)), 0, 'and the normal policy')
  const hashing = () => readdirSync('/proc/self/task').filter((tid) => nice(tid) === 19)
  const chrt = existsSync('/usr/bin/chrt')
  // The pool starts its threads in the background; each lowers itself as it starts.
  await eventually(() => hashing().length >= 2 && (!chrt || hashing().every((tid) => policy(tid) === 5)), 5000, 20)
  t.equal(hashing().length, 2, 'exactly the two hashing threads are at nice 19')
  if (chrt) t.same(hashing().map(policy), [5, 5], 'and run under SCHED_IDLE')
})

t.test('password rules', async (t) => {
  t.equal(passwordLength('🔑🔑'), 2, 'length counts characters, not UTF-16 units')
  t.ok(isCommonPassword('iloveyou'))
  t.ok(isCommonPassword('ILoveYou'), 'case-insensitively')
  t.notOk(isCommonPassword('a long and unusual passphrase'))
})
