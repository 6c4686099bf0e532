// Generated bodies, headers, cookies and tokens thrown at every route: never a
// 5xx, never internals in a body, never a token without valid credentials,
// never a state change on a refused request.
import t from 'tap'
import fc from 'fast-check'
import { buildApp } from '../helpers/app.ts'
import { Client, uniqueName, GOOD_PASSWORD } from '../helpers/client.ts'

const routes: Array<[string, string]> = [
  ['POST', '/auth/register'], ['POST', '/auth/login'], ['POST', '/auth/refresh'], ['POST', '/auth/logout'],
  ['POST', '/auth/logout-all'], ['GET', '/auth/me'], ['GET', '/auth/protected'], ['GET', '/auth/admin'],
  ['GET', '/auth/sessions'], ['DELETE', '/auth/sessions/x'], ['GET', '/admin/users'], ['PUT', '/admin/users/x/roles'],
  ['POST', '/admin/users/x/logout'], ['PATCH', '/admin/users/x'], ['GET', '/health/ready']
]

t.test('fuzzing every route', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded' })
  const victim = new Client(app, 'cookie')
  const name = uniqueName('Fuzz')
  await victim.register(name, GOOD_PASSWORD)
  await victim.login(name, GOOD_PASSWORD)
  const realToken = victim.accessToken!
  const realCookie = victim.cookieHeader()!

  const jsonish = fc.oneof(
    fc.json(),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.record({ username: fc.oneof(fc.string(), fc.constant(name), fc.integer()), password: fc.oneof(fc.string(), fc.constant('wrong password here')), roles: fc.array(fc.string()) }).map((v) => JSON.stringify(v)),
    fc.constantFrom('{"__proto__":{"x":1}}', '{"constructor":{"prototype":{}}}', '{', '[]', 'null', '"str"', '{"refresh_token":null}'),
    fc.string({ maxLength: 300 })
  )
  const token = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.constant(realToken).chain((tok) => fc.nat({ max: tok.length - 1 }).map((i) => tok.slice(0, i) + (tok[i] === 'A' ? 'B' : 'A') + tok.slice(i + 1))),
    fc.base64String({ maxLength: 300 }).map((s) => `${s}.${s}.${s}`)
  )
  const headers = fc.record({
    authorization: fc.option(fc.oneof(token.map((x) => `Bearer ${x}`), token.map((x) => `DPoP ${x}`)), { nil: undefined }),
    cookie: fc.option(fc.oneof(fc.string({ maxLength: 200 }), token.map((x) => `refresh_token=${x}; csrf_token=${x}`)), { nil: undefined }),
    'x-auth-mode': fc.option(fc.oneof(fc.constantFrom('cookie', 'header'), fc.string({ maxLength: 20 })), { nil: undefined }),
    'x-csrf-token': fc.option(fc.string({ maxLength: 100 }), { nil: undefined }),
    dpop: fc.option(fc.oneof(fc.string({ maxLength: 200 }), token), { nil: undefined }),
    'content-type': fc.option(fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16'), { nil: undefined })
  }, { requiredKeys: [] })

  const countState = async () => ({
    users: await app.prisma.user.count(),
    sessions: await app.prisma.session.count(),
    revoked: await app.prisma.session.count({ where: { revokedAt: { not: null } } }),
    tokens: await app.prisma.refreshToken.count(),
    roles: await app.prisma.userRole.count()
  })

  await fc.assert(fc.asyncProperty(fc.constantFrom(...routes), headers, jsonish, async ([method, url], h, body) => {
    const clean = Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined && /^[\t\x20-\x7e]*$/.test(v as string))) as Record<string, string>
    const before = await countState()
    const res = await app.inject({ method: method as 'GET', url, headers: clean, ...(method !== 'GET' ? { payload: body } : {}) })
    if (res.statusCode >= 500 && !(res.statusCode === 503 && url === '/health/ready')) throw new Error(`${method} ${url} answered ${res.statusCode}: ${res.body}`)
    if (/\bat [\w$.<>]+ \(|node_modules|\/work\/|\.ts:\d+|PrismaClient|SELECT /.test(res.body)) throw new Error(`internals leaked: ${res.body}`)
    if (res.statusCode >= 400) {
      const parsed = res.json()
      if (typeof parsed.code !== 'string' || parsed.statusCode !== res.statusCode) throw new Error(`error without a stable code: ${res.body}`)
      const after = await countState()
      if (JSON.stringify(after) !== JSON.stringify(before)) throw new Error(`refused ${method} ${url} changed state: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`)
    }
    if (res.statusCode === 200 && /access_token/.test(res.body) && url !== '/auth/register') {
      throw new Error(`a token was issued without valid credentials: ${method} ${url}`)
    }
  }), { numRuns: 400, seed: Number(process.env.FUZZ_SEED ?? 424242) })

  t.equal((await app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${realToken}` } })).statusCode, 200, 'the real session survived the storm')
  t.equal((await app.inject({ method: 'POST', url: '/auth/refresh', headers: { cookie: realCookie, 'x-csrf-token': victim.jar.get('csrf_token')! } })).statusCode, 200)
})
