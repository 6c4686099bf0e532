import t from 'tap'
import { loadConfig, ConfigError } from '../src/config.ts'

t.test('defaults are those of API.md', async (t) => {
  const c = loadConfig({})
  t.equal(c.port, 3000)
  t.equal(c.host, '127.0.0.1')
  t.equal(c.accessTokenTtl, 900)
  t.equal(c.refreshTokenTtl, 1209600)
  t.equal(c.refreshReuseGrace, 10)
  t.equal(c.cookieSecure, true)
  t.equal(c.cookieSameSite, 'strict')
  t.equal(c.rateLimit, true)
  t.equal(c.bcryptCost, 12)
  t.equal(c.migrateOnStart, true)
  t.equal(c.databaseUrl, undefined)
  t.equal(c.redisUrl, undefined)
})

t.test('a bad value stops start-up with a sentence naming the variable', async (t) => {
  const bad: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'eighty' }, /^PORT /],
    [{ ACCESS_TOKEN_TTL: '0' }, /^ACCESS_TOKEN_TTL /],
    [{ BCRYPT_COST: '40' }, /^BCRYPT_COST /],
    [{ COOKIE_SAMESITE: 'sometimes' }, /^COOKIE_SAMESITE /],
    [{ COOKIE_SECURE: 'maybe' }, /^COOKIE_SECURE /],
    [{ RATE_LIMIT: 'sometimes' }, /^RATE_LIMIT /],
    [{ DATABASE_URL: 'mysql://x' }, /^DATABASE_URL /],
    [{ REDIS_URL: 'not a url' }, /^REDIS_URL /],
    [{ CORS_ORIGINS: 'https://ok.example,*' }, /^CORS_ORIGINS /],
    [{ JWT_SECRET: 'short' }, /^JWT_SECRET /],
    [{ ADMIN_USERNAME: 'root' }, /ADMIN_PASSWORD/],
    [{ COOKIE_SAMESITE: 'None', COOKIE_SECURE: 'false' }, /COOKIE_SAMESITE=None/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL /],
    // An empty pin would switch the iss/aud check off.
    [{ JWT_ISSUER: '' }, /^JWT_ISSUER must not be empty/],
    [{ JWT_AUDIENCE: ' ' }, /^JWT_AUDIENCE must not be empty/],
    [{ TRUST_PROXY: 'yes please' }, /^TRUST_PROXY must be/],
    [{ TRUST_PROXY: '10.0.0.0/33' }, /^TRUST_PROXY must be/],
    [{ TRUST_PROXY: '0' }, /^TRUST_PROXY as a hop count/],
    [{ PRUNE_INTERVAL: '-1' }, /^PRUNE_INTERVAL /],
    [{ KEY_ENCRYPTION_SECRET: 'short' }, /^KEY_ENCRYPTION_SECRET must be at least 32 bytes/],
    [{ SESSION_SECRET: 'short' }, /^SESSION_SECRET must be at least 32 bytes/],
    [{ KEY_ALGORITHM: 'RS256' }, /^KEY_ALGORITHM must be ES256 or EdDSA/],
    [{ KEY_ROTATION_INTERVAL: '9' }, /^KEY_ROTATION_INTERVAL /],
    [{ JWKS_MAX_AGE: 'soon' }, /^JWKS_MAX_AGE /]
  ]
  for (const [env, message] of bad) {
    t.throws(() => loadConfig(env), { constructor: ConfigError, message }, JSON.stringify(env))
  }
})

t.test('production refuses generated secrets and insecure cookies', async (t) => {
  t.throws(() => loadConfig({ NODE_ENV: 'production' }), /needs KEY_ENCRYPTION_SECRET/)
  t.equal(loadConfig({ NODE_ENV: 'production', KEY_ENCRYPTION_SECRET: 'Zq81vN0aPq2LmR7tY5wX3cB6kkkkkkkkkkkk' }).jwtSecret, undefined, 'managed keys are fine in production')
  t.throws(() => loadConfig({ NODE_ENV: 'production', KEY_ENCRYPTION_SECRET: 'changeme-changeme-changeme-changeme' }), /KEY_ENCRYPTION_SECRET looks like a placeholder/)
  const secret = 'k'.repeat(12) + 'Zq81vN0aPq2LmR7tY5wX3cB6'
  t.throws(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret, COOKIE_SECURE: 'false' }), /COOKIE_SECURE=false/)
  t.throws(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'changeme-changeme-changeme-changeme' }), /placeholder/)
  t.equal(loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret }).jwtSecret, secret)
})

t.test('TRUST_PROXY: proxy addresses and CIDRs, a hop count, any case of true and false; never true in production', async (t) => {
  t.same(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 192.0.2.1,fd00::/8' }).trustProxy, ['10.0.0.0/8', '192.0.2.1', 'fd00::/8'])
  t.equal(loadConfig({ TRUST_PROXY: '2' }).trustProxy, 2)
  t.equal(loadConfig({ TRUST_PROXY: 'TRUE' }).trustProxy, true, 'TRUE is true, not a stack trace')
  t.equal(loadConfig({ TRUST_PROXY: 'False' }).trustProxy, false)
  t.equal(loadConfig({}).trustProxy, false)
  const secret = 'k'.repeat(12) + 'Zq81vN0aPq2LmR7tY5wX3cB6'
  t.throws(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret, TRUST_PROXY: 'true' }), { constructor: ConfigError, message: /^TRUST_PROXY=true trusts an X-Forwarded-For that any client can write/ })
  t.same(loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret, TRUST_PROXY: '10.1.2.3' }).trustProxy, ['10.1.2.3'])
})
