// The rate-limit plugin alone, on its in-process stores, with a clock the
// test moves: a flood of invented usernames (more than the 50,000 keys one
// shared store used to hold) cannot reset a victim's ceiling, and an address
// the user keeps signing in from stays known for as long as they do.
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import rateLimit, { LOGIN_LIMITS, LOCAL_STORES } from '../../src/plugins/rate-limit.ts'
import { loadConfig } from '../../src/config.ts'
import { testEnv } from '../helpers/app.ts'

const DAY = 24 * 60 * 60_000

async function throttled (t: Test) {
  const clock = { now: Date.UTC(2026, 0, 1) }
  const app = Fastify()
  // The one metric the plugin reports: which limit refused.
  const limited: string[] = []
  await app.register(fp(async (a) => { a.decorate('metrics', { rateLimited: (limit: string) => { limited.push(limit) } } as unknown as FastifyInstance['metrics']) }, { name: 'metrics' }))
  await app.register(rateLimit, { config: loadConfig({ ...testEnv, RATE_LIMIT: 'on' }), now: () => clock.now })
  // A password login as the route makes it: the guess is counted, then found right or wrong.
  app.post<{ Body: { username: string, right: boolean } }>('/login', async function login (request, reply) {
    const attempt = await app.loginThrottle.begin(request.body.username, request, reply)
    if (request.body.right) await attempt.succeeded()
    return reply.code(request.body.right ? 200 : 401).send()
  })
  await app.ready()
  t.teardown(() => app.close())
  const login = async (username: string, right: boolean, remoteAddress: string) =>
    (await app.inject({ method: 'POST', url: '/login', remoteAddress, payload: { username, right } })).statusCode
  return { app, clock, login, limited }
}

/** `n` wrong guesses at `username`, a few from each address of 10.<net>.x.y. */
async function guesses (login: (u: string, right: boolean, a: string) => Promise<number>, username: string, n: number, net: number) {
  const statuses = []
  for (let i = 0; i < n; i++) statuses.push(await login(username, false, `10.${net}.${Math.floor(i / 5)}.${i % 5}`))
  return statuses
}

t.test('a flood of invented usernames does not reset a victim\'s ceiling', async (t) => {
  const { app, clock, login, limited } = await throttled(t)
  t.equal(await login('victim', true, '192.0.2.1'), 200, 'the victim signs in from home')
  t.same(new Set(await guesses(login, 'victim', LOGIN_LIMITS.failuresPerAccount.max - 1, 1)), new Set([401]), 'a guesser spread over many addresses makes 99 guesses')

  // Straight through the throttle: the per-address limit would stop one test address long before.
  clock.now += 60_000
  const flood = LOCAL_STORES.accountFailures.capacity + 10_000
  const reply = { header: () => reply } as unknown as FastifyReply
  let refused = 0
  for (let i = 0; i < flood; i++) {
    const request = { ip: `198.51.${(i >> 8) & 255}.${i & 255}` } as FastifyRequest
    await app.loginThrottle.begin(`invented-${i}`, request, reply).catch((err) => { if (err.statusCode !== 429) throw err; refused++ })
  }
  t.ok(flood > 50_000, `${flood} invented usernames, more than the old shared store held`)
  t.equal(refused, 0, 'every invented username is counted: none refused')

  t.equal(await login('victim', false, '10.1.200.1'), 401, 'the 100th guess is still tried')
  limited.length = 0
  t.equal(await login('victim', false, '10.1.200.2'), 429, 'the 101st is not: the victim\'s count survived the flood')
  t.same(limited, ['login-failures-account'], 'held back by the account\'s ceiling')
  t.equal(await login('victim', true, '10.1.200.3'), 429, 'a new address waits, with the right password too')
  t.equal(await login('victim', true, '192.0.2.1'), 200, 'the victim from home gets in')
  t.equal(await login('someone-else', true, '203.0.113.9'), 200, 'and the flood locks out no other account')
})

t.test('an address the user signs in from every day stays known past 30 days', async (t) => {
  const { clock, login } = await throttled(t)
  t.equal(await login('daily', true, '192.0.2.7'), 200, 'day 0: signs in from home')
  clock.now += 29 * DAY
  t.equal(await login('daily', true, '192.0.2.7'), 200, 'day 29: again')
  clock.now += 2 * DAY
  t.same(new Set(await guesses(login, 'daily', LOGIN_LIMITS.failuresPerAccount.max, 2)), new Set([401]), 'day 31: a guesser spread over many addresses reaches the ceiling')
  t.equal(await login('daily', true, '10.2.250.1'), 429, 'a new address waits')
  t.equal(await login('daily', true, '192.0.2.7'), 200, 'home is still known: 30 days from the last sign-in, not the first')

  clock.now += 31 * DAY
  await guesses(login, 'daily', LOGIN_LIMITS.failuresPerAccount.max, 3)
  t.equal(await login('daily', true, '192.0.2.7'), 429, '30 days after the last sign-in from it, it is a new address again')
})
