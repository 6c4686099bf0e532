// OIDC_PROVIDERS and each provider's block: parsed, or start-up refused with
// a sentence naming the variable.
import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.ts'

const base = { PUBLIC_URL: 'https://auth.example.com', OIDC_PROVIDERS: 'google,corp', OIDC_GOOGLE_ISSUER: 'https://accounts.google.com', OIDC_GOOGLE_CLIENT_ID: 'g-id', OIDC_GOOGLE_CLIENT_SECRET: 'g-secret', OIDC_GOOGLE_TRUST_EMAIL: 'true', OIDC_CORP_ISSUER: 'https://sso.example.com/realms/staff', OIDC_CORP_CLIENT_ID: 'svc' }

t.test('providers, their defaults and the return origins', async (t) => {
  const { oidc } = loadConfig({ ...base, CORS_ORIGINS: 'https://app.example.com' })
  t.same(oidc.providers, [
    { name: 'google', label: 'google', issuer: 'https://accounts.google.com', clientId: 'g-id', clientSecret: 'g-secret', scopes: 'openid email profile', trustEmail: true },
    { name: 'corp', label: 'corp', issuer: 'https://sso.example.com/realms/staff', clientId: 'svc', clientSecret: undefined, scopes: 'openid email profile', trustEmail: false }
  ])
  t.same(oidc.returnOrigins, ['https://app.example.com', 'https://auth.example.com'], 'default: CORS_ORIGINS and PUBLIC_URL')
  t.same(loadConfig({ ...base, OIDC_RETURN_ORIGINS: 'https://app.example.com/, com.example.app:' }).oidc.returnOrigins, ['https://app.example.com', 'com.example.app:'])
  t.same(loadConfig({}).oidc, { providers: [], returnOrigins: [] }, 'off by default')
  t.equal(loadConfig({ ...base, OIDC_CORP_ISSUER: 'http://127.0.0.1:9000', OIDC_CORP_LABEL: 'Corp SSO' }).oidc.providers[1].label, 'Corp SSO', 'http on a loopback host')
})

t.test('a bad block stops start-up, naming the variable', async (t) => {
  const cases: Array<[Record<string, string | undefined>, RegExp]> = [
    [{ PUBLIC_URL: undefined }, /OIDC_PROVIDERS needs PUBLIC_URL/],
    [{ OIDC_CORP_CLIENT_ID: undefined }, /OIDC_CORP_CLIENT_ID is required/],
    [{ OIDC_CORP_ISSUER: undefined }, /OIDC_CORP_ISSUER must be the provider's issuer URL/],
    [{ OIDC_CORP_ISSUER: 'http://sso.example.com' }, /OIDC_CORP_ISSUER must use https/],
    [{ OIDC_CORP_ISSUER: 'https://sso.example.com?x=1' }, /OIDC_CORP_ISSUER must be the provider's issuer URL/],
    [{ OIDC_PROVIDERS: 'Google' }, /lower-case letters and digits/],
    [{ OIDC_PROVIDERS: 'corp,corp' }, /names a provider twice/],
    [{ OIDC_CORP_SCOPES: 'email profile' }, /OIDC_CORP_SCOPES must include openid/],
    [{ OIDC_CORP_TRUST_EMAIL: 'yes' }, /OIDC_CORP_TRUST_EMAIL must be/],
    [{ OIDC_RETURN_ORIGINS: 'https://app.example.com/path' }, /OIDC_RETURN_ORIGINS must list origins/],
    [{ OIDC_RETURN_ORIGINS: 'javascript:' }, /OIDC_RETURN_ORIGINS must list origins/]
  ]
  for (const [change, message] of cases) {
    const env = { ...base, ...change }
    for (const [k, v] of Object.entries(change)) if (v === undefined) delete (env as Record<string, string | undefined>)[k]
    let thrown: unknown
    try { loadConfig(env as Record<string, string>) } catch (err) { thrown = err }
    t.ok(thrown instanceof ConfigError, `a ConfigError: ${message.source}`)
    t.match((thrown as Error).message, message)
  }
})
