// ADMIN_USERNAME / ADMIN_PASSWORD create that admin when the name is free,
// and never promote or change an account that already has the name.
import t from 'tap'
import { buildApp } from '../helpers/app.ts'
import { Client, GOOD_PASSWORD } from '../helpers/client.ts'

t.test('the name is taken by a user who registered first: start-up stops, nobody is promoted', async (t) => {
  const first = await buildApp(t, { backend: 'real' })
  const squatter = new Client(first.app, 'header')
  t.equal((await squatter.register('admin', GOOD_PASSWORD)).statusCode, 201, 'anyone may register "admin" before the operator configures it')
  await squatter.login('admin', GOOD_PASSWORD)

  const env = { ADMIN_USERNAME: 'Admin', ADMIN_PASSWORD: 'the operator passphrase' }
  await t.rejects(buildApp(t, { backend: 'real', databaseUrl: first.databaseUrl, env }), {
    message: /^ADMIN_USERNAME=Admin: an account of that name exists and is not an admin; it is never promoted at start-up/
  })
  const roles = await first.app.prisma.userRole.findMany({ where: { user: { usernameKey: 'admin' } } })
  t.same(roles.map((r) => r.roleName), ['user'], 'the squatter is still a plain user')
  t.equal((await squatter.request('GET', '/auth/admin')).statusCode, 403)
  t.equal((await new Client(first.app, 'header').login('Admin', 'the operator passphrase')).json().code, 'INVALID_CREDENTIALS', "the operator's password does not open the squatter's account")
})

t.test('an existing admin of that name is left as it is: its password is not reset', async (t) => {
  const env = { ADMIN_USERNAME: 'boss', ADMIN_PASSWORD: 'the first boss passphrase' }
  const first = await buildApp(t, { backend: 'real', env })
  const boss = new Client(first.app, 'header')
  t.equal((await boss.login('boss', 'the first boss passphrase')).statusCode, 200, 'created at the first start')
  const again = await buildApp(t, { backend: 'real', databaseUrl: first.databaseUrl, env: { ADMIN_USERNAME: 'BOSS', ADMIN_PASSWORD: 'another passphrase entirely' } })
  t.equal((await new Client(again.app, 'header').login('boss', 'another passphrase entirely')).json().code, 'INVALID_CREDENTIALS', 'a changed ADMIN_PASSWORD changes nothing')
  t.equal((await new Client(again.app, 'header').login('boss', 'the first boss passphrase')).statusCode, 200)
  t.equal(await again.app.prisma.user.count({ where: { usernameKey: 'boss' } }), 1)
})

t.test('an admin whose role was removed on purpose is not re-granted at the next start', async (t) => {
  const env = { ADMIN_USERNAME: 'founder', ADMIN_PASSWORD: 'the founder passphrase' }
  const first = await buildApp(t, { backend: 'real', env })
  const other = new Client(first.app, 'header')
  await other.register('successor', GOOD_PASSWORD)
  const successorId = (await first.app.prisma.user.findUniqueOrThrow({ where: { usernameKey: 'successor' } })).id
  const founderId = (await first.app.prisma.user.findUniqueOrThrow({ where: { usernameKey: 'founder' } })).id
  await first.app.userAdmin.setRoles(successorId, ['user', 'admin'])
  await first.app.userAdmin.setRoles(founderId, ['user'])
  await t.rejects(buildApp(t, { backend: 'real', databaseUrl: first.databaseUrl, env }), { message: /never promoted/ })
  t.same((await first.app.userAdmin.get(founderId)).roles, ['user'])
})
