// Abuse limits: per account and per address on login, per address on
// registration; shared by every instance through Redis.
import t from 'tap'
import { buildApp, backends } from '../helpers/app.ts'
import { uniqueName, GOOD_PASSWORD } from '../helpers/client.ts'

for (const backend of backends) {
  t.test(`${backend} backend`, async (t) => {
    const { app, redis, databaseUrl } = await buildApp(t, { backend, env: { RATE_LIMIT: 'on' } })
    const login = (username: string, password: string, remoteAddress: string, headers: Record<string, string> = {}) =>
      app.inject({ method: 'POST', url: '/auth/login', remoteAddress, headers: { 'x-auth-mode': 'header', ...headers }, payload: { username, password } })

    t.test('a brute force on one account stops, even a correct password; other accounts are untouched', async (t) => {
      const victim = uniqueName('Victim')
      const bystander = uniqueName('Bystander')
      for (const name of [victim, bystander]) {
        await app.inject({ method: 'POST', url: '/auth/register', remoteAddress: '10.9.0.1', payload: { username: name, password: GOOD_PASSWORD } })
      }
      for (let i = 0; i < 10; i++) {
        t.equal((await login(victim, `wrong guess ${i}`, `10.1.0.${i}`)).statusCode, 401)
      }
      const blocked = await login(victim, GOOD_PASSWORD, '10.1.1.1')
      t.equal(blocked.statusCode, 429, 'the right password inside the window is refused too')
      t.equal(blocked.json().code, 'TOO_MANY_REQUESTS')
      t.match(blocked.headers['retry-after'], /^\d+$/)
      t.ok(Number(blocked.headers['retry-after']) > 0)
      t.equal((await login(bystander, GOOD_PASSWORD, '10.1.0.1')).statusCode, 200, 'another account logs in from an address the attack used')
    })

    t.test('one address is limited across accounts', async (t) => {
      let status = 0
      for (let i = 0; i < 31; i++) status = (await login(uniqueName('Spray'), 'spray spray', '10.2.0.1')).statusCode
      t.equal(status, 429)
      t.equal((await login(uniqueName('Spray'), 'spray spray', '10.2.0.2')).statusCode, 401, 'another address is not')
    })

    t.test('X-Forwarded-For is ignored unless TRUST_PROXY says so', async (t) => {
      let status = 0
      for (let i = 0; i < 31; i++) status = (await login(uniqueName('Xff'), 'spray spray', '10.3.0.1', { 'x-forwarded-for': `192.0.2.${i}` })).statusCode
      t.equal(status, 429, 'a spoofed header does not buy new buckets')
    })

    t.test('registration is limited per address', async (t) => {
      let status = 0
      for (let i = 0; i < 21; i++) {
        status = (await app.inject({ method: 'POST', url: '/auth/register', remoteAddress: '10.4.0.1', payload: { username: uniqueName('Reg'), password: GOOD_PASSWORD } })).statusCode
      }
      t.equal(status, 429)
    })

    if (backend === 'real') {
      t.test('the limits are shared by every instance', async (t) => {
        const other = await buildApp(t, { backend, env: { RATE_LIMIT: 'on' }, redis, databaseUrl })
        const name = uniqueName('Shared')
        for (let i = 0; i < 10; i++) {
          const target = i % 2 === 0 ? app : other.app
          await target.inject({ method: 'POST', url: '/auth/login', remoteAddress: `10.5.0.${i}`, headers: { 'x-auth-mode': 'header' }, payload: { username: name, password: 'guess guess' } })
        }
        t.equal((await other.app.inject({ method: 'POST', url: '/auth/login', remoteAddress: '10.5.1.1', headers: { 'x-auth-mode': 'header' }, payload: { username: name, password: 'guess guess' } })).statusCode, 429)
      })
    }
  })
}

t.test('TRUST_PROXY takes the client address from X-Forwarded-For', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded', env: { RATE_LIMIT: 'on', TRUST_PROXY: 'true' } })
  let last = 0
  for (let i = 0; i < 31; i++) {
    last = (await app.inject({ method: 'POST', url: '/auth/login', remoteAddress: '10.6.0.1', headers: { 'x-auth-mode': 'header', 'x-forwarded-for': `198.51.100.${i}` }, payload: { username: uniqueName('Prox'), password: 'spray spray' } })).statusCode
  }
  t.equal(last, 401, 'each forwarded client has its own bucket behind a trusted proxy')
})

t.test('RATE_LIMIT=off disables every limit', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded', env: { RATE_LIMIT: 'off' } })
  let last = 0
  for (let i = 0; i < 40; i++) last = (await app.inject({ method: 'POST', url: '/auth/login', remoteAddress: '10.7.0.1', headers: { 'x-auth-mode': 'header' }, payload: { username: 'same-user', password: 'spray spray' } })).statusCode
  t.equal(last, 401)
})
