// The verified-token cache: a hit never outlives the token's exp, and the
// cache stays within its bound.
import t from 'tap'
import { VerifiedTokens } from '../../src/tokens/verified-cache.ts'

t.test('an entry is served until its exp, never after', async (t) => {
  const cache = new VerifiedTokens<{ exp: number, sub: string }>(10)
  const now = 1_800_000_000_000
  cache.set('token-a', { exp: now / 1000 + 60, sub: 'a' })
  t.equal(cache.get('token-a', now)?.sub, 'a')
  t.equal(cache.get('token-a', now + 59_999)?.sub, 'a', 'a millisecond before exp')
  t.equal(cache.get('token-a', now + 60_000), undefined, 'at exp: gone')
  t.equal(cache.size, 0, 'and dropped from memory')
  t.equal(cache.get('token-b', now), undefined, 'a token never verified is never a hit')
})

t.test('bounded: the oldest entry leaves first', async (t) => {
  const cache = new VerifiedTokens<{ exp: number }>(3)
  const exp = Date.now() / 1000 + 600
  for (const token of ['one', 'two', 'three', 'four']) cache.set(token, { exp })
  t.equal(cache.size, 3)
  t.equal(cache.get('one', Date.now()), undefined, 'the first one was evicted')
  t.ok(cache.get('four', Date.now()), 'the newest is there')
})

t.test('a token is a hit only as itself: another with the same signature tail is a miss, and replaces it once verified', async (t) => {
  const cache = new VerifiedTokens<{ exp: number, sub: string }>(10)
  const exp = Date.now() / 1000 + 600
  const tail = 'SIGNATURE-TAIL-0123456789abcdefghijklmnop'
  const real = `eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.${tail}`
  const forged = `eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.${tail}`
  cache.set(real, { exp, sub: 'a' })
  t.equal(cache.get(forged, Date.now()), undefined, 'the same signature on another payload is not the cached token')
  t.equal(cache.get(real.slice(1), Date.now()), undefined, 'nor is a token that only ends the same way')
  t.equal(cache.get(`${real}`.split('').join(''), Date.now())?.sub, 'a', 'an equal string built anew is a hit')
  cache.set(forged, { exp, sub: 'admin' })
  t.equal(cache.get(real, Date.now()), undefined, 'the entry now holds the other token')
  t.equal(cache.get(forged, Date.now())?.sub, 'admin')
  t.equal(cache.size, 1)
})
