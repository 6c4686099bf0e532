// The step-up rule on its own (mfa/step-up.ts): what each session may change.
import t from 'tap'
import { stepUpVerdict } from '../../src/mfa/step-up.ts'

t.test('a second factor must have been used, and the sign-in must be recent', async (t) => {
  const now = 1_800_000_000_000
  const at = (secondsAgo: number) => Math.floor(now / 1000) - secondsAgo
  const cases: Array<[string, { amr?: string[], auth_time?: number }, boolean, number | undefined, string]> = [
    ['password, no factor, fresh', { amr: ['pwd'], auth_time: at(5) }, false, 600, 'ok'],
    ['password, no factor, exactly at the limit', { amr: ['pwd'], auth_time: at(600) }, false, 600, 'ok'],
    ['password, no factor, one second late', { amr: ['pwd'], auth_time: at(601) }, false, 600, 'REAUTH_REQUIRED'],
    ['password, with a factor', { amr: ['pwd'], auth_time: at(5) }, true, 600, 'MFA_REQUIRED'],
    ['password and a code', { amr: ['pwd', 'otp'], auth_time: at(5) }, true, 600, 'ok'],
    ['a device-bound passkey', { amr: ['hwk', 'user'], auth_time: at(5) }, true, 600, 'ok'],
    ['a synced passkey', { amr: ['swk'], auth_time: at(5) }, true, 600, 'ok'],
    ['user verification alone is no factor', { amr: ['user'], auth_time: at(5) }, true, 600, 'MFA_REQUIRED'],
    ['no factor used and stale: the factor is asked first', { amr: ['pwd'], auth_time: at(9999) }, true, 600, 'MFA_REQUIRED'],
    ['a token without amr', { auth_time: at(5) }, true, 600, 'MFA_REQUIRED'],
    ['a token without auth_time is stale', { amr: ['pwd'] }, false, 600, 'REAUTH_REQUIRED'],
    ['no freshness asked (the password change)', { amr: ['pwd'], auth_time: at(9999) }, false, undefined, 'ok'],
    ['no freshness asked, but a factor is', { amr: ['pwd'] }, true, undefined, 'MFA_REQUIRED']
  ]
  for (const [what, claims, factor, maxAge, verdict] of cases) t.equal(stepUpVerdict(claims, factor, { maxAge, now }), verdict, what)
})
