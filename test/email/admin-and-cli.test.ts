// An operator sees each user's address and whether it is verified: in the
// admin API's user list and in the CLI's.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { buildApp, testEnv } from '../helpers/app.ts'
import { postgresForSuite } from '../helpers/servers.ts'
import { Client, GOOD_PASSWORD } from '../helpers/client.ts'
import { smtpSink } from '../helpers/smtp.ts'
import { mailEnv, mailsTo, newAddress, verifiedUser } from './setup.ts'

t.test('the admin user list and `npm run admin -- list` show email and emailVerified', async (t) => {
  const pg = await postgresForSuite()
  t.teardown(pg.drop)
  const sink = await smtpSink(t)
  const { app } = await buildApp(t, { backend: 'real', databaseUrl: pg.url, env: { ...mailEnv(sink), ADMIN_USERNAME: 'boss', ADMIN_PASSWORD: GOOD_PASSWORD } })
  const verified = await verifiedUser(app, sink)
  const pending = newAddress('pending')
  await new Client(app, 'header').request('POST', '/auth/register', { body: { username: 'pending_user', password: GOOD_PASSWORD, email: pending }, bearer: false })
  await mailsTo(sink, pending)

  const boss = new Client(app, 'header')
  await boss.login('boss', GOOD_PASSWORD)
  const { users } = (await boss.request('GET', '/admin/users')).json()
  const by = (name: string) => users.find((u: { username: string }) => u.username === name)
  t.same([by(verified.name).email, by(verified.name).emailVerified], [verified.email, true])
  t.same([by('pending_user').email, by('pending_user').emailVerified], [pending, false])
  t.same([by('boss').email, by('boss').emailVerified], [null, false])

  const run = spawnSync(process.execPath, ['src/cli/admin.ts', 'list'], {
    env: { ...process.env, DATABASE_URL: pg.url, REDIS_URL: '', BCRYPT_COST: '4', KEY_ENCRYPTION_SECRET: testEnv.KEY_ENCRYPTION_SECRET },
    encoding: 'utf8'
  })
  t.equal(run.status, 0, run.stderr)
  t.match(run.stdout, new RegExp(`${verified.name}\\t[0-9a-f-]{36}\\tuser\\tenabled\\t${verified.email.replace(/\./g, '\\.')} \\(verified\\)`))
  t.match(run.stdout, /pending_user\t.*\t.* \(not verified\)/)
  t.match(run.stdout, /boss\t.*\tadmin,user\tenabled\t-/)
})
