// Secrets at rest: what is sealed opens only with its key, its associated
// data and its whole 16-byte GCM tag; a truncated tag, the tag a forger can
// guess soonest, opens nothing.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { seal, unseal } from '../../src/keys/sealed.ts'

const key = randomBytes(32)
const secret = Buffer.from('a TOTP secret or a private key')
const parts = (sealed: string) => sealed.split('.').map((p) => Buffer.from(p, 'base64url'))
const join = (...p: Buffer[]) => p.map((b) => b.toString('base64url')).join('.')

t.test('a sealed value opens with its key and associated data only', async (t) => {
  const sealed = seal(key, 'user-1', secret)
  t.same(unseal(key, 'user-1', sealed), secret)
  t.equal(unseal(randomBytes(32), 'user-1', sealed), undefined, 'another key')
  t.equal(unseal(key, 'user-2', sealed), undefined, 'copied onto another row')
  t.equal(parts(sealed)[1].length, 16, 'the tag is 16 bytes')
})

t.test('a truncated tag does not open, whatever its length', async (t) => {
  const [iv, tag, body] = parts(seal(key, 'user-1', secret))
  for (const bytes of [4, 8, 12, 13, 15]) {
    t.equal(unseal(key, 'user-1', join(iv, tag.subarray(0, bytes), body)), undefined, `the first ${bytes} bytes of the right tag`)
  }
  t.equal(unseal(key, 'user-1', join(iv, Buffer.alloc(0), body)), undefined, 'no tag')
  t.equal(unseal(key, 'user-1', join(iv, Buffer.concat([tag, Buffer.from([0])]), body)), undefined, 'a tag too long')
  t.equal(unseal(key, 'user-1', 'not.sealed'), undefined, 'not a sealed value at all')
})
