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
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL /]
  ]
  for (const [env, message] of bad) {
    t.throws(() => loadConfig(env), { constructor: ConfigError, message }, JSON.stringify(env))
  }
})

t.test('production refuses generated secrets and insecure cookies', async (t) => {
  t.throws(() => loadConfig({ NODE_ENV: 'production' }), /JWT_PRIVATE_KEY/)
  const secret = 'k'.repeat(12) + 'Zq81vN0aPq2LmR7tY5wX3cB6'
  t.throws(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret, COOKIE_SECURE: 'false' }), /COOKIE_SECURE=false/)
  t.throws(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'changeme-changeme-changeme-changeme' }), /placeholder/)
  t.equal(loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret }).jwtSecret, secret)
})
