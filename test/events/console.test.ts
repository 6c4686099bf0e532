// The admin console's files: the page and its modules under the console's CSP,
// nothing else of the repository, and nothing at all with ADMIN_CONSOLE=off.
import t from 'tap'
import { buildApp } from '../helpers/app.ts'
import { CONSOLE_CSP } from '../../src/routes/admin/console.ts'

t.test('served: the page, its styles, its modules (types stripped), under a strict CSP', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded' })
  const page = await app.inject({ url: '/admin/console/' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  t.equal(page.headers['content-security-policy'], CONSOLE_CSP)
  t.match(CONSOLE_CSP, /script-src 'self'; style-src 'self'/)
  t.notMatch(CONSOLE_CSP, /unsafe-inline|unsafe-eval/)
  t.equal(page.headers['x-frame-options'], 'SAMEORIGIN', "helmet's page headers too")
  t.match(page.body, /<script type="module" src="modules\/admin-console\/app\.ts"><\/script>/)
  t.equal((await app.inject({ url: '/admin/console' })).headers.location, '/admin/console/')
  t.equal((await app.inject({ url: '/admin/console/console.css' })).statusCode, 200)

  const mod = await app.inject({ url: '/admin/console/modules/admin-console/api.ts' })
  t.equal(mod.statusCode, 200)
  t.equal(mod.headers['content-type'], 'text/javascript; charset=utf-8')
  t.notMatch(mod.body, /export interface|: Promise</, 'types stripped')
  t.equal((await app.inject({ url: '/admin/console/modules/client/api/credentials.ts' })).statusCode, 200, "the client library's modules")

  for (const url of ['/admin/console/modules/src/config.ts', '/admin/console/modules/admin-console/../src/errors.ts', '/admin/console/modules/client/nope.ts',
    '/admin/console/modules/admin-console/tsconfig.json', '/admin/console/app.ts', '/admin/console/tsconfig.json', '/admin/console/%2e%2e/package.json']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 404, url)
  }
})

t.test('ADMIN_CONSOLE=off: no console', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded', env: { ADMIN_CONSOLE: 'off' } })
  t.equal((await app.inject({ url: '/admin/console/' })).statusCode, 404)
  t.equal((await app.inject({ url: '/admin/console/modules/admin-console/app.ts' })).statusCode, 404)
})
