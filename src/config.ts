// Every setting the service reads, as one table: its variables, its
// default, what it means, and how it is parsed. docs.test.ts checks each row
// against docs/api.md's configuration table; a row's parser can read only
// its own variables, so the table cannot miss one. A bad value stops
// start-up with a sentence that names the variable.
import { resolve } from 'node:path'
import { MAX_ACCESS_TOKEN_TTL } from './revocation/mirror.ts'
import type { RedisTarget } from './db/redis.ts'
import { OIDC_NAMES, oidcConfig, type OidcConfig } from './config/oidc.ts'
import { ConfigError, bool, int, keyAlgorithm, nonEmpty, publicUrl, redisTarget, secret, trustProxy, url, webauthn, type Env } from './config/parse.ts'
import { webhookConfig, type WebhookConfig } from './config/events.ts'
import { MAIL_NAMES, mailConfig, type MailConfig } from './config/email.ts'

export { ConfigError }

export interface Config {
  nodeEnv: string
  port: number
  host: string
  databaseUrl: string | undefined
  redisUrl: string | undefined
  /** REDIS_URL, REDIS_SENTINELS with REDIS_SENTINEL_NAME, or REDIS_CLUSTER_NODES; undefined: revocations held in process. */
  redis: RedisTarget | undefined
  dataDir: string
  jwtSecret: string | undefined
  jwtPrivateKey: string | undefined
  jwtIssuer: string
  jwtAudience: string
  accessTokenTtl: number
  refreshTokenTtl: number
  refreshReuseGrace: number
  sessionMaxLifetime: number
  cookieSecure: boolean
  cookieSameSite: 'strict' | 'lax' | 'none'
  refreshCookieName: string
  corsOrigins: string[]
  rateLimit: boolean
  /** false, true (development only), a hop count, or the proxies' addresses and CIDRs. */
  trustProxy: boolean | number | string[]
  adminUsername: string | undefined
  adminPassword: string | undefined
  bcryptCost: number
  hashWorkers: number
  migrateOnStart: boolean
  logLevel: string
  bodyLimit: number
  requestTimeout: number
  /** Seconds between prunes of expired tokens and old sessions (0: never). */
  pruneInterval: number
  /** Seconds between each instance's re-reads of new revocations from PostgreSQL. */
  revocationPollInterval: number
  /** Encrypts managed signing keys at rest; the same on every instance. */
  keyEncryptionSecret: string | undefined
  /** CSRF values and refresh-token successors; derived from KEY_ENCRYPTION_SECRET when unset. */
  sessionSecret: string | undefined
  keyAlgorithm: 'ES256' | 'EdDSA'
  /** Prometheus metrics on their own listener; unset: off. */
  metricsPort: number | undefined
  metricsHost: string
  /** The bearer resource servers read GET /auth/revocations with; unset: the feed is off. */
  revocationFeedToken: string | undefined
  keyRotationInterval: number
  jwksMaxAge: number
  /** Seconds an operator-issued password reset token lives. */
  passwordResetTtl: number
  webauthn: { rpId: string, rpName: string, origins: string[] }
  /** DPOP_REQUIRED=header: header-mode logins must bind their session to a DPoP key. */
  dpopRequiredForHeaderMode: boolean
  /** DPOP_NONCE=on: proofs must carry a server nonce (RFC 9449 section 8). */
  dpopNonce: boolean
  /** Seconds since sign-in within which a sensitive change needs no reauthentication. */
  reauthMaxAge: number
  /** The service's public origin (scheme, host, port): DPoP's htu and the links it hands out; unset: taken from each request. */
  publicUrl: string | undefined
  /** Sign-in with OpenID Connect providers; no providers: off. */
  oidc: OidcConfig
  /** Days security events are kept. */
  eventRetentionDays: number
  /** Where every security event is POSTed, signed (Standard Webhooks); unset: no webhooks. */
  webhook: WebhookConfig | undefined
  /** The admin console at /admin/console/. */
  adminConsole: boolean
  /** Outgoing mail: SMTP_URL, MAIL_FROM, EMAIL_LINK_BASE, MAIL_TEMPLATES_DIR, MAIL_POLL_INTERVAL. */
  mail: MailConfig
}

export interface Setting {
  /** The variables it reads (several for one composite value, such as the Sentinels). */
  names: string[]
  default: string
  doc: string
  parse: (env: Env) => Partial<Config>
}

const row = (names: string | string[], fallback: string, doc: string, parse: Setting['parse']): Setting =>
  ({ names: Array.isArray(names) ? names : [names], default: fallback, doc, parse })

function sameSite (env: Env): Config['cookieSameSite'] {
  const raw = (env.COOKIE_SAMESITE ?? 'Strict').toLowerCase()
  if (!['strict', 'lax', 'none'].includes(raw)) throw new ConfigError(`COOKIE_SAMESITE must be Strict, Lax or None, got "${env.COOKIE_SAMESITE}"`)
  return raw as Config['cookieSameSite']
}

function corsOrigins (env: Env): string[] {
  const origins = (env.CORS_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean)
  for (const origin of origins) {
    let ok = false
    try { ok = new URL(origin).origin === origin } catch {}
    if (!ok) throw new ConfigError(`CORS_ORIGINS must list origins such as https://app.example.com, got "${origin}"`)
  }
  return origins
}

function cookieName (env: Env): string {
  const name = env.REFRESH_COOKIE_NAME ?? 'refresh_token'
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) throw new ConfigError('REFRESH_COOKIE_NAME must be 1 to 64 letters, digits, _ or -')
  return name
}

function jwtSecret (env: Env): string | undefined {
  const raw = env.JWT_SECRET === '' ? undefined : env.JWT_SECRET
  if (raw !== undefined && Buffer.byteLength(raw) < 32) throw new ConfigError('JWT_SECRET must be at least 32 bytes (RFC 7518: a key as long as the HS256 hash)')
  return raw
}

function logLevel (env: Env): string {
  const level = env.LOG_LEVEL ?? 'info'
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level)) {
    throw new ConfigError(`LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "${level}"`)
  }
  return level
}

const refreshTtl = (env: Env) => int(env, 'REFRESH_TOKEN_TTL', 1209600, 60, 31536000)

export const SETTINGS: readonly Setting[] = [
  row('NODE_ENV', 'development', 'production refuses development-only choices (no key-encryption secret, placeholder secrets, plain-HTTP cookies, TRUST_PROXY=true)', (env) => ({ nodeEnv: env.NODE_ENV ?? 'development' })),
  row('PORT', '3000', 'the port it listens on', (env) => ({ port: int(env, 'PORT', 3000, 0, 65535) })),
  row('HOST', '127.0.0.1', 'the address it listens on (the container sets 0.0.0.0)', (env) => ({ host: env.HOST ?? '127.0.0.1' })),
  row('DATABASE_URL', 'unset: embedded PGlite under DATA_DIR', 'postgresql://… for a PostgreSQL server', (env) => ({ databaseUrl: url(env, 'DATABASE_URL', ['postgresql:', 'postgres:']) })),
  row('REDIS_URL', 'unset: revocations held in process', 'redis://… or rediss://…; needed for more than one instance', (env) => ({ redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']) })),
  // Reads REDIS_URL again only to refuse it beside the Sentinels or a cluster.
  row(['REDIS_SENTINELS', 'REDIS_SENTINEL_NAME', 'REDIS_CLUSTER_NODES', 'REDIS_URL'], 'unset', 'instead of REDIS_URL: the Sentinels (host:port,…) and the name they monitor the primary under, or a Redis Cluster\'s nodes (host:port,…)', (env) => ({ redis: redisTarget(env, url(env, 'REDIS_URL', ['redis:', 'rediss:'])) })),
  row('DATA_DIR', './.data', 'the embedded database and generated keys; one process at a time', (env) => ({ dataDir: resolve(env.DATA_DIR ?? './.data') })),
  row('JWT_SECRET', 'unset', 'a static HS256 secret (32 bytes or more) instead of managed keys', (env) => ({ jwtSecret: jwtSecret(env) })),
  row('JWT_PRIVATE_KEY', 'unset: keys managed in the database', 'a static PEM key: EC P-256, Ed25519 or RSA', (env) => ({ jwtPrivateKey: env.JWT_PRIVATE_KEY === '' ? undefined : env.JWT_PRIVATE_KEY })),
  row('JWT_ISSUER', 'auth-service', 'the iss every token carries; never empty', (env) => ({ jwtIssuer: nonEmpty(env, 'JWT_ISSUER', 'auth-service') })),
  row('JWT_AUDIENCE', 'auth-service', 'the aud every token carries; never empty', (env) => ({ jwtAudience: nonEmpty(env, 'JWT_AUDIENCE', 'auth-service') })),
  // The upper bound is what revocations are kept for (revocation/mirror.ts).
  row('ACCESS_TOKEN_TTL', '900', 'access-token lifetime, seconds', (env) => ({ accessTokenTtl: int(env, 'ACCESS_TOKEN_TTL', 900, 1, MAX_ACCESS_TOKEN_TTL) })),
  row('REFRESH_TOKEN_TTL', '1209600', 'refresh-token lifetime, seconds', (env) => ({ refreshTokenTtl: refreshTtl(env) })),
  row('REFRESH_REUSE_GRACE', '10', 'seconds a spent refresh token is still answered with the live one', (env) => ({ refreshReuseGrace: int(env, 'REFRESH_REUSE_GRACE', 10, 0, 300) })),
  row(['SESSION_MAX_LIFETIME', 'REFRESH_TOKEN_TTL'], '30 days, at least REFRESH_TOKEN_TTL', 'the absolute end of a session', (env) => ({ sessionMaxLifetime: int(env, 'SESSION_MAX_LIFETIME', Math.max(2592000, refreshTtl(env)), refreshTtl(env), 31536000) })),
  row('COOKIE_SECURE', 'true', 'Secure cookies', (env) => ({ cookieSecure: bool(env, 'COOKIE_SECURE', true) })),
  row('COOKIE_SAMESITE', 'Strict', 'Strict, Lax, or None (a SPA on another site)', (env) => ({ cookieSameSite: sameSite(env) })),
  row('REFRESH_COOKIE_NAME', 'refresh_token', 'the refresh cookie\'s name', (env) => ({ refreshCookieName: cookieName(env) })),
  row('CORS_ORIGINS', 'none', 'origins allowed to call with credentials', (env) => ({ corsOrigins: corsOrigins(env) })),
  row('RATE_LIMIT', 'on', 'off turns every limit off', (env) => ({ rateLimit: bool(env, 'RATE_LIMIT', true, 'on', 'off') })),
  row(['TRUST_PROXY', 'NODE_ENV'], 'false', 'the proxies in front: addresses and CIDRs, or a hop count', (env) => ({ trustProxy: trustProxy(env) })),
  row('ADMIN_USERNAME', 'unset', 'with ADMIN_PASSWORD: the admin created at start-up', (env) => ({ adminUsername: env.ADMIN_USERNAME || undefined })),
  row('ADMIN_PASSWORD', 'unset', 'with ADMIN_USERNAME', (env) => ({ adminPassword: env.ADMIN_PASSWORD || undefined })),
  row('BCRYPT_COST', '12', 'bcrypt work factor', (env) => ({ bcryptCost: int(env, 'BCRYPT_COST', 12, 4, 15) })),
  row('HASH_WORKERS', '0: cores - 1, at least 1', 'bcrypt worker threads', (env) => ({ hashWorkers: int(env, 'HASH_WORKERS', 0, 0, 64) })),
  row('MIGRATE_ON_START', 'true', 'apply pending migrations at start-up', (env) => ({ migrateOnStart: bool(env, 'MIGRATE_ON_START', true) })),
  row('LOG_LEVEL', 'info', 'fatal, error, warn, info, debug, trace or silent', (env) => ({ logLevel: logLevel(env) })),
  row('BODY_LIMIT', '16384', 'largest request body, bytes', (env) => ({ bodyLimit: int(env, 'BODY_LIMIT', 16384, 1024, 1048576) })),
  row('REQUEST_TIMEOUT', '30', 'seconds a request may take to arrive', (env) => ({ requestTimeout: int(env, 'REQUEST_TIMEOUT', 30, 1, 600) })),
  row('PRUNE_INTERVAL', '3600', 'seconds between prunes of expired rows (0: never)', (env) => ({ pruneInterval: int(env, 'PRUNE_INTERVAL', 3600, 0, 604800) })),
  row('REVOCATION_POLL_INTERVAL', '5', 'seconds between re-reads of new revocations from PostgreSQL', (env) => ({ revocationPollInterval: int(env, 'REVOCATION_POLL_INTERVAL', 5, 1, 60) })),
  row('KEY_ENCRYPTION_SECRET', 'unset: generated into DATA_DIR (development)', 'encrypts managed keys and TOTP secrets at rest', (env) => ({ keyEncryptionSecret: secret(env, 'KEY_ENCRYPTION_SECRET') })),
  row('SESSION_SECRET', 'unset: derived from KEY_ENCRYPTION_SECRET', 'CSRF values and refresh-token successors', (env) => ({ sessionSecret: secret(env, 'SESSION_SECRET') })),
  row('KEY_ALGORITHM', 'ES256', 'ES256 or EdDSA, for managed keys', (env) => ({ keyAlgorithm: keyAlgorithm(env) })),
  row('REVOCATION_FEED_TOKEN', 'unset: the feed is off', 'the bearer resource servers read GET /auth/revocations with', (env) => ({ revocationFeedToken: secret(env, 'REVOCATION_FEED_TOKEN') })),
  row('METRICS_PORT', 'unset: off', 'Prometheus metrics on a listener of their own', (env) => ({ metricsPort: env.METRICS_PORT === undefined || env.METRICS_PORT === '' ? undefined : int(env, 'METRICS_PORT', 0, 0, 65535) })),
  row('METRICS_HOST', '127.0.0.1', 'the metrics listener\'s address', (env) => ({ metricsHost: env.METRICS_HOST ?? '127.0.0.1' })),
  row('KEY_ROTATION_INTERVAL', '2592000', 'seconds a managed key signs before the next takes over', (env) => ({ keyRotationInterval: int(env, 'KEY_ROTATION_INTERVAL', 2592000, 10, 31536000) })),
  row('JWKS_MAX_AGE', '300', 'seconds verifiers may cache the key set', (env) => ({ jwksMaxAge: int(env, 'JWKS_MAX_AGE', 300, 0, 86400) })),
  row('PASSWORD_RESET_TTL', '900', 'seconds a reset token lives', (env) => ({ passwordResetTtl: int(env, 'PASSWORD_RESET_TTL', 900, 60, 86400) })),
  row(['WEBAUTHN_ORIGINS', 'WEBAUTHN_RP_ID', 'WEBAUTHN_RP_NAME'], 'http://localhost:3000; the first origin\'s host; Auth service', 'passkeys: the origins, the relying party id and name', (env) => ({ webauthn: webauthn(env) })),
  row('DPOP_REQUIRED', 'off', 'header: header-mode logins must bind their session to a DPoP key', (env) => ({ dpopRequiredForHeaderMode: bool(env, 'DPOP_REQUIRED', false, 'header', 'off') })),
  row('DPOP_NONCE', 'off', 'on: DPoP proofs must carry the service\'s nonce', (env) => ({ dpopNonce: bool(env, 'DPOP_NONCE', false, 'on', 'off') })),
  row('REAUTH_MAX_AGE', '600', 'seconds after a sign-in within which a sensitive change needs no reauthentication', (env) => ({ reauthMaxAge: int(env, 'REAUTH_MAX_AGE', 600, 10, 86400) })),
  row('PUBLIC_URL', 'unset: each request\'s scheme and host', 'the service\'s public origin (DPoP htu, links, OpenID Connect redirect URIs)', (env) => ({ publicUrl: publicUrl(env) })),
  // One block of variables per provider; `<NAME>` stands for each name in OIDC_PROVIDERS, upper case.
  row('EVENT_RETENTION_DAYS', '90', 'days security events are kept (GET /admin/events, GET /auth/events)', (env) => ({ eventRetentionDays: int(env, 'EVENT_RETENTION_DAYS', 90, 1, 3650) })),
  row(['WEBHOOK_URL', 'WEBHOOK_SECRET'], 'unset: no webhooks', 'an http(s) URL every security event is POSTed to, and its Standard Webhooks secret (whsec_<base64>)', (env) => ({ webhook: webhookConfig(env) })),
  // Reads PUBLIC_URL (a link's default origin) and PORT (development's) again, only as the links' fallback.
  row(MAIL_NAMES, 'unset: .eml files under DATA_DIR/outbox-sent (development)', 'outgoing mail: SMTP_URL (smtp://user:pass@host:port, STARTTLS when offered; smtps:// implicit TLS), MAIL_FROM (default Auth service <no-reply@localhost>), EMAIL_LINK_BASE (where mailed links point; default PUBLIC_URL), MAIL_TEMPLATES_DIR (an operator\'s templates), MAIL_POLL_INTERVAL (seconds, default 5)', (env) => ({ mail: mailConfig(env) })),
  row('ADMIN_CONSOLE', 'on', 'off: no admin console at /admin/console/', (env) => ({ adminConsole: bool(env, 'ADMIN_CONSOLE', true, 'on', 'off') })),
  row(OIDC_NAMES, 'unset: no providers', 'sign-in with OpenID Connect providers: OIDC_PROVIDERS names them (google,corp), each with its issuer, client id and secret, scopes, label and whether its verified emails are trusted; OIDC_RETURN_ORIGINS lists where a sign-in may return to (default: CORS_ORIGINS and PUBLIC_URL)', (env) => ({ oidc: oidcConfig(env) }))
]

/** A row's view of the environment: its own variables, nothing else. */
function only (env: Env, names: string[]): Env {
  const patterns = names.filter((n) => n.includes('<NAME>')).map((n) => new RegExp(`^${n.replace('<NAME>', '[A-Z0-9]+')}$`))
  return new Proxy(env, {
    get (target, name) {
      if (typeof name === 'string' && !names.includes(name) && !patterns.some((p) => p.test(name))) throw new Error(`config.ts: a row for ${names.join(', ')} reads ${name}: add it to the row's names`)
      return target[name as string]
    }
  })
}

export function loadConfig (env: Env = process.env): Config {
  const config = Object.assign({}, ...SETTINGS.map((s) => s.parse(only(env, s.names)))) as Config
  // SameSite=None cookies are dropped by browsers unless Secure (RFC 6265bis).
  if (config.cookieSameSite === 'none' && !config.cookieSecure) {
    throw new ConfigError('COOKIE_SAMESITE=None needs COOKIE_SECURE=true: browsers refuse SameSite=None cookies that are not Secure')
  }
  if ((config.adminUsername === undefined) !== (config.adminPassword === undefined)) {
    throw new ConfigError('ADMIN_USERNAME and ADMIN_PASSWORD go together: set both or neither')
  }
  if (config.nodeEnv === 'production') {
    if (config.jwtSecret === undefined && config.jwtPrivateKey === undefined && config.keyEncryptionSecret === undefined) {
      throw new ConfigError('NODE_ENV=production with managed signing keys (no JWT_PRIVATE_KEY, no JWT_SECRET) needs KEY_ENCRYPTION_SECRET: 32 or more random bytes, the same on every instance, that encrypt the keys in the database')
    }
    if (!config.cookieSecure) throw new ConfigError('NODE_ENV=production refuses COOKIE_SECURE=false: refresh cookies must never travel over plain HTTP')
    for (const [name, value] of [['JWT_SECRET', config.jwtSecret], ['KEY_ENCRYPTION_SECRET', config.keyEncryptionSecret], ['SESSION_SECRET', config.sessionSecret], ['REVOCATION_FEED_TOKEN', config.revocationFeedToken]] as const) {
      if (value !== undefined && /^(.)\1*$|secret|changeme|password/i.test(value)) {
        throw new ConfigError(`${name} looks like a placeholder: use 32 or more random bytes in production`)
      }
    }
  }
  return config
}
