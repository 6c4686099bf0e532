// Abuse limits: login failures per account and address (a guesser cannot lock
// the user out), an account-wide ceiling that spares the user's own
// addresses (known for 30 days from the last sign-in there), per-address
// limits (IPv6 by /64), shared by every instance through Redis and kept in
// process while Redis is down. The in-process stores under a flood: the
// plugin's own test (test/plugins/rate-limit.test.ts).
import t, { type Test } from 'tap'
import { buildApp, backends } from '../helpers/app.ts'
import { startOwnRedis } from '../helpers/servers.ts'
import { uniqueName, GOOD_PASSWORD } from '../helpers/client.ts'
import { LOGIN_LIMITS } from '../../src/plugins/rate-limit.ts'
import { addressKey } from '../../src/limits/limiter.ts'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'

const loginOn = (app: FastifyInstance) => (username: string, password: string, remoteAddress: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/auth/login', remoteAddress, headers: { 'x-auth-mode': 'header', ...headers }, payload: { username, password } })

async function registered (app: FastifyInstance, prefix: string): Promise<string> {
  const name = uniqueName(prefix)
  const res = await app.inject({ method: 'POST', url: '/auth/register', remoteAddress: `10.250.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`, payload: { username: name, password: GOOD_PASSWORD } })
  if (res.statusCode !== 201) throw new Error(`register: ${res.statusCode}`)
  return name
}

const tally = (statuses: number[]) => ({ tried: statuses.filter((s) => s === 401).length, limited: statuses.filter((s) => s === 429).length })

/**
 * Five rounds of guesses sent all at once (spread over the given instances):
 * from one address at one account, then from one address each. Only as many
 * as the limit may reach the password check; a check made before any of them
 * was counted would let them all through. `net`: the second octet of the
 * addresses used (each call its own, as the per-address limits last a minute).
 */
async function burstRounds (t: Test, apps: FastifyInstance[], net: number) {
  const pairMax = LOGIN_LIMITS.failuresPerAccountAndAddress.max
  const accountMax = LOGIN_LIMITS.failuresPerAccount.max
  for (let round = 0; round < 5; round++) {
    const victim = await registered(apps[0], 'Burst')
    const oneAddress = await Promise.all(Array.from({ length: 25 }, (_, i) => loginOn(apps[i % apps.length])(victim, `burst guess ${i}`, `10.${net}.${round}.1`)))
    t.same(tally(oneAddress.map((r) => r.statusCode)), { tried: pairMax, limited: 25 - pairMax }, `round ${round + 1}: ${pairMax} guesses from one address reach the check`)

    const spread = await registered(apps[0], 'Spread')
    const manyAddresses = await Promise.all(Array.from({ length: accountMax + 30 }, (_, i) => loginOn(apps[i % apps.length])(spread, `spread guess ${i}`, `10.${net + 1}.${round}.${i}`)))
    t.same(tally(manyAddresses.map((r) => r.statusCode)), { tried: accountMax, limited: 30 }, `round ${round + 1}: ${accountMax} guesses from many addresses reach the check`)
    t.equal((await loginOn(apps[0])(victim, GOOD_PASSWORD, `10.${net + 2}.${round}.1`)).statusCode, 200, 'the owner still signs in from elsewhere')
  }
}

for (const backend of backends) {
  t.test(`${backend} backend`, async (t) => {
    const { app, redis, databaseUrl } = await buildApp(t, { backend, env: { RATE_LIMIT: 'on' } })
    const login = loginOn(app)

    t.test('a guesser is stopped on its address, even with the right password; the user still logs in from theirs', async (t) => {
      const victim = await registered(app, 'Victim')
      for (let i = 0; i < LOGIN_LIMITS.failuresPerAccountAndAddress.max; i++) {
        t.equal((await login(victim, `wrong guess ${i}`, '10.1.0.1')).statusCode, 401)
      }
      const blocked = await login(victim, GOOD_PASSWORD, '10.1.0.1')
      t.equal(blocked.statusCode, 429, 'the right password from the guessing address is refused inside the window')
      t.equal(blocked.json().code, 'TOO_MANY_REQUESTS')
      t.match(blocked.headers['retry-after'], /^\d+$/)
      t.ok(Number(blocked.headers['retry-after']) > 0)
      t.equal((await login(victim, GOOD_PASSWORD, '10.1.9.9')).statusCode, 200, 'the user, from their own address, is not locked out')
    })

    t.test('successful logins are not counted against anyone', async (t) => {
      const user = await registered(app, 'Busy')
      for (let i = 0; i < LOGIN_LIMITS.failuresPerAccountAndAddress.max + 5; i++) {
        t.equal((await login(user, GOOD_PASSWORD, `10.11.0.${i}`)).statusCode, 200, `login ${i + 1}`)
      }
    })

    t.test('after many failures from many addresses, new addresses wait; an address the user signed in from does not', async (t) => {
      const user = await registered(app, 'Spread')
      t.equal((await login(user, GOOD_PASSWORD, '10.8.0.1')).statusCode, 200, 'the user signs in from home once')
      for (let i = 0; i < LOGIN_LIMITS.failuresPerAccount.max; i++) {
        await login(user, 'distributed guess', `10.8.${1 + Math.floor(i / 5)}.${i % 5}`)
      }
      t.equal((await login(user, GOOD_PASSWORD, '10.8.200.1')).statusCode, 429, 'a new address is held back')
      t.equal((await login(user, GOOD_PASSWORD, '10.8.0.1')).statusCode, 200, 'the user from home is not')
      t.equal((await login(user, GOOD_PASSWORD, '10.8.200.2')).statusCode, 200, 'and a success ends the run of failures')
    })

    t.test('one address is limited across accounts', async (t) => {
      let status = 0
      for (let i = 0; i < LOGIN_LIMITS.perAddress.max + 1; i++) status = (await login(uniqueName('Spray'), 'spray spray', '10.2.0.1')).statusCode
      t.equal(status, 429)
      t.equal((await login(uniqueName('Spray'), 'spray spray', '10.2.0.2')).statusCode, 401, 'another address is not')
    })

    t.test('IPv6: one /64 is one address', async (t) => {
      let status = 0
      for (let i = 0; i < LOGIN_LIMITS.perAddress.max + 1; i++) status = (await login(uniqueName('Six'), 'spray spray', `2001:db8:1:2::${(i + 1).toString(16)}`)).statusCode
      t.equal(status, 429, 'rotating the low 64 bits buys no new bucket')
      t.equal((await login(uniqueName('Six'), 'spray spray', '2001:db8:1:3::1')).statusCode, 401, 'the next /64 is another client')
    })

    t.test('X-Forwarded-For is ignored unless TRUST_PROXY says so', async (t) => {
      let status = 0
      for (let i = 0; i < LOGIN_LIMITS.perAddress.max + 1; i++) status = (await login(uniqueName('Xff'), 'spray spray', '10.3.0.1', { 'x-forwarded-for': `192.0.2.${i}` })).statusCode
      t.equal(status, 429, 'a spoofed header does not buy new buckets')
    })

    t.test('registration is limited per address', async (t) => {
      let status = 0
      for (let i = 0; i < 21; i++) {
        status = (await app.inject({ method: 'POST', url: '/auth/register', remoteAddress: '10.4.0.1', payload: { username: uniqueName('Reg'), password: GOOD_PASSWORD } })).statusCode
      }
      t.equal(status, 429)
    })

    t.test('guesses sent at once are counted before they are checked: exactly the limit is tried, in every round', async (t) => {
      await burstRounds(t, [app], 20)
    })

    if (backend === 'real') {
      t.test('guesses sent at once to two instances: exactly the limit is tried between them', async (t) => {
        const other = await buildApp(t, { backend, env: { RATE_LIMIT: 'on' }, redis, databaseUrl })
        await burstRounds(t, [app, other.app], 30)
      })

      t.test('each sign-in from a known address gives it 30 days again, in Redis too', async (t) => {
        const client = new Redis(redis!.url)
        t.teardown(() => { client.disconnect() })
        const name = await registered(app, 'Daily')
        t.equal((await login(name, GOOD_PASSWORD, '10.14.0.1')).statusCode, 200, 'day 0: a sign-in from home')
        const key = `${redis!.prefix}rl:login-known:${name.toLowerCase()}:10.14.0.1`
        const nearly30Days = LOGIN_LIMITS.knownAddressMs - 60_000
        t.ok(await client.pttl(key) > nearly30Days, 'home is known for 30 days')
        await client.pexpire(key, 24 * 60 * 60_000) // as if 29 days had passed
        t.equal((await login(name, GOOD_PASSWORD, '10.14.0.1')).statusCode, 200, 'day 29: another')
        t.ok(await client.pttl(key) > nearly30Days, 'known for 30 days from this sign-in, not from the first')
      })

      t.test('the limits are shared by every instance', async (t) => {
        const other = await buildApp(t, { backend, env: { RATE_LIMIT: 'on' }, redis, databaseUrl })
        const name = await registered(app, 'Shared')
        for (let i = 0; i < LOGIN_LIMITS.failuresPerAccountAndAddress.max; i++) {
          await loginOn(i % 2 === 0 ? app : other.app)(name, 'guess guess', '10.5.0.1')
        }
        t.equal((await loginOn(other.app)(name, GOOD_PASSWORD, '10.5.0.1')).statusCode, 429)
      })
    }
  })
}

t.test('while Redis is down the limits hold in process instead of lapsing', async (t) => {
  const redis = await startOwnRedis()
  const { app } = await buildApp(t, { backend: 'real', redis, env: { RATE_LIMIT: 'on' } })
  const name = await registered(app, 'Outage')
  await redis.stop()
  const login = loginOn(app)
  const statuses: number[] = []
  for (let i = 0; i < LOGIN_LIMITS.failuresPerAccountAndAddress.max + 1; i++) statuses.push((await login(name, 'guess during outage', '10.12.0.1')).statusCode)
  t.equal(statuses.at(-1), 429, 'the guesser is stopped during the outage too')
  t.notOk(statuses.slice(0, -1).includes(429), 'and not before the limit')
})

t.test('TRUST_PROXY with the proxy addresses: forwarded clients are told apart, a direct client cannot spoof', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded', env: { RATE_LIMIT: 'on', TRUST_PROXY: '10.6.0.0/24, fd00::1' } })
  const login = loginOn(app)
  let last = 0
  for (let i = 0; i < LOGIN_LIMITS.perAddress.max + 1; i++) last = (await login(uniqueName('Prox'), 'spray spray', '10.6.0.1', { 'x-forwarded-for': `198.51.100.${i}` })).statusCode
  t.equal(last, 401, 'each forwarded client has its own bucket behind a trusted proxy')
  let direct = 0
  for (let i = 0; i < LOGIN_LIMITS.perAddress.max + 1; i++) direct = (await login(uniqueName('Direct'), 'spray spray', '10.9.9.9', { 'x-forwarded-for': `198.51.100.${i}` })).statusCode
  t.equal(direct, 429, 'a client that is not a listed proxy gets no say through the header')
})

t.test('TRUST_PROXY as a hop count trusts that many proxies', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded', env: { RATE_LIMIT: 'on', TRUST_PROXY: '1' } })
  const me = await app.inject({ method: 'POST', url: '/auth/login', remoteAddress: '10.13.0.1', headers: { 'x-auth-mode': 'header', 'x-forwarded-for': '203.0.113.7, 198.51.100.9' }, payload: { username: 'nobody-here', password: 'spray spray' } })
  t.equal(me.statusCode, 401)
  let last = 0
  for (let i = 0; i < LOGIN_LIMITS.perAddress.max + 1; i++) last = (await loginOn(app)(uniqueName('Hop'), 'spray spray', '10.13.0.1', { 'x-forwarded-for': `198.51.100.${i}` })).statusCode
  t.equal(last, 401, 'the address the one proxy saw is the client')
})

t.test('address keys', async (t) => {
  t.equal(addressKey('192.0.2.1'), '192.0.2.1')
  t.equal(addressKey('::ffff:192.0.2.1'), '192.0.2.1', 'an IPv4-mapped address is the IPv4 client')
  t.equal(addressKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64')
  t.equal(addressKey('2001:0db8:0001:0002::1'), '2001:db8:1:2::/64', 'leading zeros and :: folded the same way')
  t.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64')
  t.equal(addressKey('::1'), '0:0:0:0::/64')
  t.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64', 'a zone index is not part of the client')
})

t.test('RATE_LIMIT=off disables every limit', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded', env: { RATE_LIMIT: 'off' } })
  let last = 0
  for (let i = 0; i < 40; i++) last = (await app.inject({ method: 'POST', url: '/auth/login', remoteAddress: '10.7.0.1', headers: { 'x-auth-mode': 'header' }, payload: { username: 'same-user', password: 'spray spray' } })).statusCode
  t.equal(last, 401)
})
