// Registration and login rules, and hostile input: every refusal is a clean
// 4xx with a stable code, nothing is written, nothing leaks.
import t from 'tap'
import { buildApp } from '../helpers/app.ts'
import { Client, uniqueName, GOOD_PASSWORD } from '../helpers/client.ts'

t.test('credentials', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded' })
  const register = (payload: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: '/auth/register', headers: { 'content-type': 'application/json', ...headers }, payload: typeof payload === 'string' ? payload : JSON.stringify(payload) })
  const login = (username: string, password: string) =>
    app.inject({ method: 'POST', url: '/auth/login', headers: { 'x-auth-mode': 'header' }, payload: { username, password } })
  const users = () => app.prisma.user.count()

  t.test('usernames are unique case-insensitively', async (t) => {
    const name = uniqueName('Case')
    t.equal((await register({ username: name, password: GOOD_PASSWORD })).statusCode, 201)
    const dup = await register({ username: name.toUpperCase(), password: GOOD_PASSWORD })
    t.equal(dup.statusCode, 409)
    t.same(dup.json(), { statusCode: 409, error: 'Conflict', code: 'USERNAME_TAKEN', message: 'That username is taken' })
  })

  t.test('password rules (NIST SP 800-63B)', async (t) => {
    const cases: Array<[string, number, string?]> = [
      ['short1!', 400, 'VALIDATION'],
      ['x'.repeat(257), 400, 'VALIDATION'],
      ['password1', 400, 'PASSWORD_TOO_COMMON'],
      ['Password1', 400, 'PASSWORD_TOO_COMMON'],
      ['qwertyuiop', 400, 'PASSWORD_TOO_COMMON'],
      ['x'.repeat(256), 201],
      ['no composition rules at all', 201],
      ['пароль-на-русском', 201],
      ['🔑🔑🔑🔑🔑🔑🔑🔑', 201]
    ]
    for (const [password, status, code] of cases) {
      const res = await register({ username: uniqueName('Pw'), password })
      t.equal(res.statusCode, status, password.slice(0, 20))
      if (code !== undefined) t.equal(res.json().code, code)
    }
  })

  t.test('long passwords are never truncated (bcrypt reads 72 bytes)', async (t) => {
    const name = uniqueName('Long')
    const prefix = 'é'.repeat(40) // 80 bytes of UTF-8: past bcrypt's 72
    t.equal((await register({ username: name, password: prefix + 'A' })).statusCode, 201)
    t.equal((await login(name, prefix + 'A')).statusCode, 200)
    const other = await login(name, prefix + 'B')
    t.equal(other.statusCode, 401, 'same first 72 bytes, different password: refused')
    t.equal(other.json().code, 'INVALID_CREDENTIALS')
  })

  t.test('passwords are compared after NFKC normalisation', async (t) => {
    const name = uniqueName('Nfc')
    t.equal((await register({ username: name, password: 'caf\u00e9 au lait!' })).statusCode, 201)
    t.equal((await login(name, 'cafe\u0301 au lait!')).statusCode, 200, 'decomposed é logs in')
  })

  t.test('unknown user and wrong password answer alike', async (t) => {
    const name = uniqueName('Enum')
    await register({ username: name, password: GOOD_PASSWORD })
    const wrong = await login(name, 'not the password')
    const unknown = await login(uniqueName('Nobody'), 'not the password')
    const malformed = await login("x' OR 1=1 --", 'not the password')
    t.equal(wrong.statusCode, 401)
    t.same(unknown.json(), wrong.json())
    t.same(malformed.json(), wrong.json())
    t.equal(wrong.body, unknown.body)
  })

  t.test('a body cannot grant a role', async (t) => {
    const name = uniqueName('Sneaky')
    const res = await register({ username: name, password: GOOD_PASSWORD, roles: ['admin'], isAdmin: true, disabled: false })
    t.equal(res.statusCode, 201)
    t.same(res.json().roles, ['user'])
    const c = new Client(app, 'header')
    await c.login(name, GOOD_PASSWORD)
    t.equal((await c.request('GET', '/auth/admin')).statusCode, 403)
  })

  t.test('hostile usernames', async (t) => {
    const before = await users()
    for (const username of ["robert'); DROP TABLE \"User\";--", 'a\u0000b', 'аdmin' /* Cyrillic а */, 'ad min', '<script>', '../etc', 'ab', 'x'.repeat(65), '', 'ＡＤＭＩＮ']) {
      const res = await register({ username, password: GOOD_PASSWORD })
      t.equal(res.statusCode, 400, JSON.stringify(username))
      t.equal(res.json().code, 'VALIDATION')
    }
    t.equal(await users(), before, 'nothing was written')
  })

  t.test('hostile bodies', async (t) => {
    const before = await users()
    const cases: Array<[string, unknown, number, string]> = [
      ['__proto__', `{"username":"${uniqueName('P')}","password":"${GOOD_PASSWORD}","__proto__":{"roles":["admin"]}}`, 400, 'VALIDATION'],
      ['constructor.prototype', `{"username":"${uniqueName('C')}","password":"${GOOD_PASSWORD}","constructor":{"prototype":{"admin":true}}}`, 400, 'VALIDATION'],
      ['malformed JSON', '{"username": "abc", ', 400, 'VALIDATION'],
      ['wrong types', { username: 12345, password: GOOD_PASSWORD }, 400, 'VALIDATION'],
      ['array password', { username: uniqueName('A'), password: [GOOD_PASSWORD] }, 400, 'VALIDATION'],
      ['null body', 'null', 400, 'VALIDATION'],
      ['array body', '[]', 400, 'VALIDATION'],
      ['oversized', { username: 'big', password: 'x'.repeat(20_000) }, 413, 'PAYLOAD_TOO_LARGE']
    ]
    for (const [what, payload, status, code] of cases) {
      const res = await register(payload)
      t.equal(res.statusCode, status, what)
      t.equal(res.json().code, code, what)
      t.notMatch(res.body, /at [\w.]+ \(|node_modules|\/work\/|prisma|SELECT|stack/i, `${what}: no internals`)
    }
    const text = await app.inject({ method: 'POST', url: '/auth/register', headers: { 'content-type': 'text/plain' }, payload: 'hello' })
    t.equal(text.statusCode, 415)
    t.equal(text.json().code, 'UNSUPPORTED_MEDIA_TYPE')
    t.equal(await users(), before, 'nothing was written')
    t.equal(({} as Record<string, unknown>).roles, undefined, 'no prototype was polluted')
  })

  t.test('unknown routes answer 404 in the API shape', async (t) => {
    const res = await app.inject('/nope')
    t.equal(res.statusCode, 404)
    t.equal(res.json().code, 'NOT_FOUND')
  })
})
