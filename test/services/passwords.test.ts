import t from 'tap'
import { threadId } from 'node:worker_threads'
import { createPasswordHasher, isCommonPassword, passwordLength } from '../../src/services/passwords.ts'

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

t.test('password rules', async (t) => {
  t.equal(passwordLength('🔑🔑'), 2, 'length counts characters, not UTF-16 units')
  t.ok(isCommonPassword('iloveyou'))
  t.ok(isCommonPassword('ILoveYou'), 'case-insensitively')
  t.notOk(isCommonPassword('a long and unusual passphrase'))
})
