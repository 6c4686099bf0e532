// What of a security log line is stored: the allow-listed fields, never a
// secret, whatever a call site logs by mistake.
import t from 'tap'
import { fromLogLine, selfActed } from '../../src/events/details.ts'

const USER = '3f1c2a9e-6b7d-4e2f-9a1b-0c2d3e4f5a6b'

t.test('allow-listed fields only', async (t) => {
  const leaky = { password: 'hunter2 hunter2', refresh_token: 'rt-secret', code: '123456', mfa_token: 'm', reset_token: 'r', secret: 's', otpauthUri: 'otpauth://x' }
  const e = fromLogLine({ event: 'login', userId: USER, ip: '203.0.113.9', sessionId: USER, amr: ['pwd', 'otp'], ...leaky })
  t.same(e, { type: 'login', userId: USER, actorId: null, ip: '203.0.113.9', details: { sessionId: USER, amr: ['pwd', 'otp'] }, sessionId: USER, username: undefined })
})

t.test("a provider's refusal keeps its error code; a code elsewhere is dropped", async (t) => {
  t.same(fromLogLine({ event: 'oidc_failed', provider: 'corp', code: 'access_denied' })?.details, { provider: 'corp', error: 'access_denied' })
  t.same(fromLogLine({ event: 'login_mfa_failed', userId: USER, code: '123456' })?.details, {})
})

t.test('admin lines: the target is the user, the actor the admin; strings are cut, odd values dropped', async (t) => {
  const e = fromLogLine({ event: 'roles_changed', actor: USER, target: USER, roles: ['admin', 'user'], username: 'x'.repeat(500), endedSessions: Infinity, via: { nested: 1 } })
  t.equal(e?.userId, USER)
  t.equal(e?.actorId, USER)
  t.same(e?.details, { username: 'x'.repeat(128), roles: ['admin', 'user'] })
})

t.test('not an event: no event name, or a malformed one', async (t) => {
  t.equal(fromLogLine({ msg: 'hello' }), undefined)
  t.equal(fromLogLine({ event: 'DROP TABLE' }), undefined)
  t.equal(fromLogLine({ event: 'x'.repeat(49) }), undefined)
})

t.test('who acted when no one signed in made the request', async (t) => {
  t.equal(selfActed('login'), true)
  t.equal(selfActed('password_reset'), true)
  for (const type of ['login_failed', 'refresh_token_reused', 'backchannel_logout', 'roles_changed', 'signing_key_rotated']) t.equal(selfActed(type), false, type)
})
