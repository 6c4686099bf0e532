// The counters behind the rate limits. In process, each kind has a bounded
// store of its own: when full, one that spares counted keys pushes out the
// least counted of its oldest counters (never a victim's holding many
// guesses), an evicting one the counter nearest its end; renew() slides a window, in process
// and in Redis alike.
import t from 'tap'
import { Redis } from 'ioredis'
import { createLimiter } from '../../src/limits/limiter.ts'
import { redisForSuite } from '../helpers/servers.ts'

const MINUTE = 60_000

function clocked () {
  const clock = { now: Date.UTC(2026, 0, 1) }
  return { clock, limiter: createLimiter(undefined, 'unused:', () => clock.now) }
}

t.test('a full store that spares counted keys keeps a victim\'s count through a flood, and new keys get in', async (t) => {
  const { clock, limiter } = clocked()
  const failures = limiter.counter({ windowMs: 15 * MINUTE, capacity: 1000, whenFull: 'evict-least' })
  for (let i = 0; i < 99; i++) await failures.reserve('login-fail:victim')
  clock.now += MINUTE
  let counted = 0
  for (let i = 0; i < 5000; i++) if ((await failures.reserve(`login-fail:invented-${i}`)).current === 1) counted++
  t.equal(counted, 5000, 'every invented key is counted, none refused')
  t.equal(failures.local.size, 1000, 'memory stays bounded')
  const next = await failures.reserve('login-fail:victim')
  t.equal(next.current, 100, 'the victim\'s count goes on where it was: the flood pushed out its own counters')
  t.equal(next.ttl, 14 * MINUTE)
  t.equal((await failures.reserve('login-fail:someone-new')).current, 1, 'a new key is counted, never refused')
  t.equal((await failures.peek('login-fail:invented-0')).current, 0, 'the flood\'s oldest went')

  clock.now += 14 * MINUTE
  t.equal((await failures.peek('login-fail:victim')).current, 0, 'the victim\'s window ended by itself')
})

t.test('a counter given back to zero frees its room without pushing anyone out', async (t) => {
  const { limiter } = clocked()
  const failures = limiter.counter({ windowMs: MINUTE, capacity: 2, whenFull: 'evict-least' })
  const a = await failures.reserve('a')
  await failures.reserve('b')
  await failures.reserve('b')
  await a.giveBack()
  t.equal((await failures.reserve('c')).current, 1)
  t.equal((await failures.peek('b')).current, 2, 'b stays')
  t.equal((await failures.reserve('d')).current, 1, 'full again: the least counted (c) goes, not b')
  t.equal((await failures.peek('b')).current, 2)
  t.equal((await failures.peek('c')).current, 0)
})

t.test('an evicting store drops the counter nearest its end', async (t) => {
  const { clock, limiter } = clocked()
  const addresses = limiter.counter({ windowMs: MINUTE, capacity: 3, whenFull: 'evict' })
  await addresses.hit('oldest')
  clock.now += 1000
  await addresses.hit('b')
  await addresses.hit('c')
  t.equal((await addresses.hit('d')).current, 1)
  t.equal(addresses.local.size, 3)
  t.equal((await addresses.peek('oldest')).current, 0, 'the oldest went')
  t.equal((await addresses.peek('b')).current, 1)
})

t.test('renew slides the window, in process', async (t) => {
  const { clock, limiter } = clocked()
  const DAY = 24 * 60 * MINUTE
  const known = limiter.counter({ windowMs: 30 * DAY, capacity: 10, whenFull: 'evict' })
  t.same(await known.renew('login-known:alice:192.0.2.1'), { current: 1, ttl: 30 * DAY })
  clock.now += 29 * DAY
  t.equal((await known.peek('login-known:alice:192.0.2.1')).ttl, DAY, 'a day left')
  t.same(await known.renew('login-known:alice:192.0.2.1'), { current: 2, ttl: 30 * DAY }, 'a sign-in on day 29 gives it 30 days from then')
  clock.now += 2 * DAY
  t.same(await known.peek('login-known:alice:192.0.2.1'), { current: 2, ttl: 28 * DAY }, 'still known on day 31')
})

t.test('renew slides the window, in Redis; the keys are named as in process', async (t) => {
  const server = await redisForSuite()
  const redis = new Redis(server.url)
  t.teardown(() => { redis.disconnect() })
  await new Promise((resolve) => redis.once('ready', resolve))
  const limiter = createLimiter(redis, `${server.prefix}rl:`)
  const known = limiter.counter({ windowMs: 30 * 24 * 60 * MINUTE, capacity: 10, whenFull: 'evict' })
  const key = 'login-known:alice:192.0.2.1'
  await known.renew(key)
  await redis.pexpire(`${server.prefix}rl:${key}`, 1000)
  const renewed = await known.renew(key)
  t.equal(renewed.current, 2)
  t.ok(await redis.pttl(`${server.prefix}rl:${key}`) > 30 * 24 * 60 * MINUTE - 60_000, 'the second renew gives it 30 days again')
  t.equal((await known.peek(key)).current, 2)

  const failures = limiter.counter({ windowMs: 15 * MINUTE, capacity: 10, whenFull: 'evict-least' })
  const first = await failures.reserve('login-fail:alice')
  t.equal(await redis.get(`${server.prefix}rl:login-fail:alice`), '1', 'one key name for both stores, under the prefix')
  await first.giveBack()
  t.equal(await redis.get(`${server.prefix}rl:login-fail:alice`), '0')
  await failures.reserve('login-fail:alice')
  await failures.reset('login-fail:alice')
  t.equal(await redis.exists(`${server.prefix}rl:login-fail:alice`), 0)
})
