// The operator's command line against a real PostgreSQL database.
import t from 'tap'
import * as OTPAuth from 'otpauth'
import { spawnSync } from 'node:child_process'
import { buildApp, testEnv } from '../helpers/app.ts'
import { postgresForSuite, eventually } from '../helpers/servers.ts'
import { Client, GOOD_PASSWORD } from '../helpers/client.ts'

t.test('npm run admin', async (t) => {
  const pg = await postgresForSuite()
  t.teardown(pg.drop)
  const { app } = await buildApp(t, { backend: 'real', databaseUrl: pg.url })
  const run = (args: string[], input?: string, extraEnv: Record<string, string> = {}) => spawnSync(process.execPath, ['src/cli/admin.ts', ...args], {
    env: { ...process.env, DATABASE_URL: pg.url, REDIS_URL: app.revocations.backendName === 'redis' ? (process.env.REDIS_URL ?? '') : '', BCRYPT_COST: '4', AUTH_CLI_PASSWORD: '', KEY_ENCRYPTION_SECRET: testEnv.KEY_ENCRYPTION_SECRET, ...extraEnv },
    input,
    encoding: 'utf8'
  })

  const help = run(['--help'])
  t.equal(help.status, 0)
  t.match(help.stdout, /create-user <username>/)
  t.equal(run(['frobnicate', 'x']).status, 2)

  const created = run(['create-user', 'Operator', '--admin'], `${GOOD_PASSWORD}\n`)
  t.equal(created.status, 0, created.stderr)
  t.match(created.stdout, /created Operator .* roles admin, user/)
  t.notMatch(created.stdout + created.stderr, new RegExp(GOOD_PASSWORD), 'the password is never echoed')

  const op = new Client(app, 'header')
  t.equal((await op.login('operator', GOOD_PASSWORD)).statusCode, 200, 'the service sees the user')
  t.equal((await op.request('GET', '/auth/admin')).statusCode, 200)

  t.equal(run(['create-user', 'Weak'], 'password\n').status, 1, 'the password rules apply')
  const second = run(['create-user', 'helper'], `${GOOD_PASSWORD}\n`)
  t.equal(second.status, 0)
  t.equal(run(['grant', 'helper', 'admin']).status, 0)
  const last = run(['revoke', 'operator', 'admin'])
  t.equal(last.status, 0, 'another admin exists now')
  const refused = run(['revoke', 'helper', 'admin'])
  t.equal(refused.status, 1)
  t.match(refused.stderr, /LAST_ADMIN/)

  t.equal(run(['disable', 'helper']).status, 1, 'the last admin cannot be disabled either')
  t.equal(run(['disable', 'operator']).status, 0)
  t.equal((await new Client(app, 'header').login('operator', GOOD_PASSWORD)).json().code, 'INVALID_CREDENTIALS')
  t.equal(run(['enable', 'operator']).status, 0)
  const again = new Client(app, 'header')
  t.equal((await again.login('operator', GOOD_PASSWORD)).statusCode, 200)
  t.equal(run(['logout', 'operator']).status, 0)
  t.equal((await again.refresh()).json().code, 'INVALID_REFRESH_TOKEN', 'logout ended the session')
  t.equal(run(['logout', 'nobody-here']).status, 1)

  const signedInBefore = new Client(app, 'header')
  t.equal((await signedInBefore.login('operator', GOOD_PASSWORD)).statusCode, 200)
  const link = run(['reset-link', 'operator'])
  t.equal(link.status, 0, link.stderr)
  const resetToken = link.stdout.trim()
  t.match(resetToken, /^[A-Za-z0-9_-]{43}$/, 'reset-link prints the token alone on stdout')
  t.match(link.stderr, /"event":"password_reset_issued"/)
  t.ok(await eventually(async () => (await signedInBefore.me()).statusCode === 401, 6000, 20), 'every session of the user ended')
  const reset = await new Client(app, 'header').request('POST', '/auth/password/reset', { body: { reset_token: resetToken, new_password: 'the operator reset passphrase' } })
  t.equal(reset.statusCode, 204, 'the service takes the token')
  t.equal((await new Client(app, 'header').login('operator', 'the operator reset passphrase')).statusCode, 200)
  t.equal(run(['reset-link', 'nobody-here']).status, 1)
  t.equal(run(['reset-link', 'helper']).status, 0)
  const helperReset = await new Client(app, 'header').request('POST', '/auth/password/reset', { body: { reset_token: resetToken, new_password: 'the operator reset passphrase 2' } })
  t.equal(helperReset.json().code, 'INVALID_RESET_TOKEN', 'a spent token stays spent')

  // mfa-reset: a user who lost their authenticator signs in with the password alone.
  const lost = new Client(app, 'header')
  t.equal((await lost.login('helper', GOOD_PASSWORD)).statusCode, 200)
  const secret = (await lost.request('POST', '/auth/mfa/totp')).json().secret
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' })
  t.equal((await lost.request('POST', '/auth/mfa/totp/confirm', { body: { code: totp.generate() } })).statusCode, 200)
  t.equal((await new Client(app, 'header').login('helper', GOOD_PASSWORD)).json().mfa_required, true)
  const mfaReset = run(['mfa-reset', 'Helper'])
  t.equal(mfaReset.status, 0, mfaReset.stderr)
  t.match(mfaReset.stdout, /helper: TOTP and recovery codes removed, every session ended/i)
  t.match(mfaReset.stderr, /"event":"mfa_reset"/)
  t.ok(await eventually(async () => (await lost.me()).statusCode === 401, 6000, 20), 'every session of the user ended')
  t.equal(await app.prisma.recoveryCode.count({ where: { user: { usernameKey: 'helper' } } }), 0, 'the recovery codes are gone')
  const helperBack = await new Client(app, 'header').login('helper', GOOD_PASSWORD)
  t.type(helperBack.json().access_token, 'string', 'the password alone signs in')
  t.equal(run(['mfa-reset', 'nobody-here']).status, 1)
  t.match(run(['--help']).stdout, /mfa-reset <username>/)

  const keysList = run(['keys', 'list'])
  t.equal(keysList.status, 0, keysList.stderr)
  const current = /^(\S+)\s+ES256\s+current/m.exec(keysList.stdout)?.[1]
  t.ok(current, 'keys list shows the current key')
  const wrongSecret = run(['keys', 'rotate'], undefined, { KEY_ENCRYPTION_SECRET: 'another-key-encryption-secret-entirely-xx' })
  t.equal(wrongSecret.status, 1, 'a CLI with another KEY_ENCRYPTION_SECRET adds no key the service could not open')
  t.match(wrongSecret.stderr, /cannot be decrypted with this KEY_ENCRYPTION_SECRET: every instance must be given the same one/)
  t.equal(await app.prisma.signingKey.count(), 1)
  const rotated = run(['keys', 'rotate'])
  t.equal(rotated.status, 0, rotated.stderr)
  t.match(rotated.stdout, /ES256\s+next\s+signs from/, 'keys rotate publishes a next key')
  t.match(rotated.stderr, /"event":"signing_key_rotated"/)
  const user = new Client(app, 'header')
  t.equal((await user.login('operator', 'the operator reset passphrase')).statusCode, 200)
  t.equal((await user.me()).statusCode, 200)
  const revoked = run(['keys', 'revoke', current!])
  t.equal(revoked.status, 0, revoked.stderr)
  t.match(revoked.stdout, new RegExp(`^${current}\\s+ES256\\s+revoked`, 'm'))
  t.match(revoked.stdout, /ES256\s+current/, 'and a replacement signs at once')
  t.ok(await eventually(async () => (await user.me()).statusCode === 401, 6000, 20), "the running service refuses the revoked key's tokens")
  t.equal((await user.refresh()).statusCode, 200, 'the session refreshes into the new key')
  t.equal((await user.me()).statusCode, 200)
  t.equal(run(['keys', 'revoke', 'no-such-kid']).status, 1)
  t.equal(run(['keys', 'spin']).status, 1)
})
