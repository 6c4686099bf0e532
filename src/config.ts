// The one environment schema: names and defaults of docs/api.md. A bad value
// stops start-up with a sentence that names the variable.
import { isIP } from 'node:net'
import { resolve } from 'node:path'
import { MAX_ACCESS_TOKEN_TTL } from './services/revocation-list.ts'
import type { RedisTarget } from './services/redis-connection.ts'

export interface Config {
  nodeEnv: string
  port: number
  host: string
  databaseUrl: string | undefined
  redisUrl: string | undefined
  /** REDIS_URL, or REDIS_SENTINELS with REDIS_SENTINEL_NAME; undefined: revocations held in process. */
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
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>

function int (env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`)
  }
  return Number(raw)
}

function bool (env: Env, name: string, fallback: boolean, yes = 'true', no = 'false'): boolean {
  const raw = env[name]?.toLowerCase()
  if (raw === undefined || raw === '') return fallback
  if (raw === yes || raw === 'true' || raw === '1') return true
  if (raw === no || raw === 'false' || raw === '0') return false
  throw new ConfigError(`${name} must be "${yes}" or "${no}", got "${env[name]}"`)
}

function url (env: Env, name: string, schemes: string[]): string | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  let parsed: URL
  try { parsed = new URL(raw) } catch { throw new ConfigError(`${name} must be a URL (${schemes.join(' or ')}), got something else`) }
  if (!schemes.includes(parsed.protocol)) throw new ConfigError(`${name} must start with ${schemes.join(' or ')}`)
  return raw
}

/** A secret of 32 bytes or more (RFC 7518: as long as the HMAC's hash), or unset. */
function secret (env: Env, name: string): string | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  if (Buffer.byteLength(raw) < 32) throw new ConfigError(`${name} must be at least 32 bytes of random data`)
  return raw
}

function keyAlgorithm (env: Env): Config['keyAlgorithm'] {
  const raw = (env.KEY_ALGORITHM ?? 'ES256').trim()
  if (raw === 'ES256' || raw === 'EdDSA') return raw
  throw new ConfigError(`KEY_ALGORITHM must be ES256 or EdDSA, got "${raw}"`)
}

function nonEmpty (env: Env, name: string, fallback: string): string {
  const raw = env[name]
  if (raw === undefined) return fallback
  // An empty pin would switch the check off: a token with no iss/aud would pass.
  if (raw.trim() === '') throw new ConfigError(`${name} must not be empty: it is pinned in every token (unset it for the default "${fallback}")`)
  return raw
}

/** A proxy's address or CIDR range, IPv4 or IPv6. */
function isAddressOrCidr (value: string): boolean {
  const [addr, bits, ...rest] = value.split('/')
  const version = isIP(addr)
  if (version === 0 || rest.length > 0) return false
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128))
}

function redisTarget (env: Env, redisUrl: string | undefined): RedisTarget | undefined {
  const raw = (env.REDIS_SENTINELS ?? '').trim()
  if (raw === '') {
    if ((env.REDIS_SENTINEL_NAME ?? '') !== '') throw new ConfigError('REDIS_SENTINEL_NAME goes with REDIS_SENTINELS (host:port,host:port)')
    return redisUrl === undefined ? undefined : { url: redisUrl }
  }
  if (redisUrl !== undefined) throw new ConfigError('set REDIS_URL or REDIS_SENTINELS, not both')
  const name = (env.REDIS_SENTINEL_NAME ?? '').trim()
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new ConfigError('REDIS_SENTINELS needs REDIS_SENTINEL_NAME, the name the Sentinels monitor the primary under')
  const sentinels = raw.split(',').map((entry) => {
    const m = /^\s*(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})\s*$/.exec(entry)
    if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new ConfigError(`REDIS_SENTINELS must list host:port pairs separated by commas, got "${entry.trim()}"`)
    return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) }
  })
  return { sentinels, name }
}

function webauthn (env: Env): Config['webauthn'] {
  const origins = (env.WEBAUTHN_ORIGINS ?? 'http://localhost:3000').split(',').map((o) => o.trim()).filter(Boolean)
  if (origins.length === 0) throw new ConfigError('WEBAUTHN_ORIGINS must list at least one origin, such as https://app.example.com')
  const hosts = origins.map((origin) => {
    let parsed: URL | undefined
    try { parsed = new URL(origin) } catch {}
    if (parsed === undefined || parsed.origin !== origin) throw new ConfigError(`WEBAUTHN_ORIGINS must list origins such as https://app.example.com, got "${origin}"`)
    return parsed.hostname
  })
  const rpId = (env.WEBAUTHN_RP_ID ?? '').trim() || hosts[0]
  // WebAuthn: the RP ID is the origin's host or a registrable suffix of it.
  const bad = hosts.find((h) => h !== rpId && !h.endsWith(`.${rpId}`))
  if (bad !== undefined) throw new ConfigError(`WEBAUTHN_RP_ID "${rpId}" must be the host of every WEBAUTHN_ORIGINS entry or a domain they are under; "${bad}" is not`)
  const rpName = (env.WEBAUTHN_RP_NAME ?? 'Auth service').trim()
  if (rpName === '' || rpName.length > 64) throw new ConfigError('WEBAUTHN_RP_NAME must be 1 to 64 characters')
  return { rpId, rpName, origins }
}

/** PUBLIC_URL: an origin (https://auth.example.com), no path, query or fragment. */
function publicUrl (env: Env): string | undefined {
  const raw = url(env, 'PUBLIC_URL', ['https:', 'http:'])
  if (raw === undefined) return undefined
  const origin = new URL(raw).origin
  if (origin !== raw.replace(/\/$/, '')) throw new ConfigError(`PUBLIC_URL must be the service's origin such as https://auth.example.com, with no path, query or fragment, got "${raw}"`)
  return origin
}

function trustProxy (env: Env): Config['trustProxy'] {
  const raw = (env.TRUST_PROXY ?? '').trim()
  const lower = raw.toLowerCase()
  if (lower === '' || lower === 'false') return false
  if (lower === 'true') {
    if ((env.NODE_ENV ?? '') === 'production') {
      throw new ConfigError('TRUST_PROXY=true trusts an X-Forwarded-For that any client can write (every request a new rate-limit bucket): in production name your proxies\' addresses or CIDRs (TRUST_PROXY=10.0.0.0/8), or the number of proxies in front (TRUST_PROXY=1)')
    }
    return true
  }
  if (/^\d+$/.test(raw)) {
    const hops = Number(raw)
    if (hops < 1 || hops > 10) throw new ConfigError(`TRUST_PROXY as a hop count must be from 1 to 10, got "${raw}"`)
    return hops
  }
  const list = raw.split(',').map((a) => a.trim()).filter(Boolean)
  const bad = list.find((a) => !isAddressOrCidr(a))
  if (bad !== undefined) throw new ConfigError(`TRUST_PROXY must be false, a hop count, or proxy addresses and CIDRs separated by commas (10.0.0.1,fd00::/8), got "${bad}"`)
  return list
}

export function loadConfig (env: Env = process.env): Config {
  const sameSite = (env.COOKIE_SAMESITE ?? 'Strict').toLowerCase()
  if (!['strict', 'lax', 'none'].includes(sameSite)) {
    throw new ConfigError(`COOKIE_SAMESITE must be Strict, Lax or None, got "${env.COOKIE_SAMESITE}"`)
  }
  const corsOrigins = (env.CORS_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean)
  for (const origin of corsOrigins) {
    let ok = false
    try { ok = new URL(origin).origin === origin } catch {}
    if (!ok) throw new ConfigError(`CORS_ORIGINS must list origins such as https://app.example.com, got "${origin}"`)
  }
  const cookieName = env.REFRESH_COOKIE_NAME ?? 'refresh_token'
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(cookieName)) throw new ConfigError('REFRESH_COOKIE_NAME must be 1 to 64 letters, digits, _ or -')
  const jwtSecret = env.JWT_SECRET === '' ? undefined : env.JWT_SECRET
  if (jwtSecret !== undefined && Buffer.byteLength(jwtSecret) < 32) {
    throw new ConfigError('JWT_SECRET must be at least 32 bytes (RFC 7518: a key as long as the HS256 hash)')
  }
  // The upper bound is what revocations are kept for (services/revocation-list.ts).
  const accessTokenTtl = int(env, 'ACCESS_TOKEN_TTL', 900, 1, MAX_ACCESS_TOKEN_TTL)
  const refreshTokenTtl = int(env, 'REFRESH_TOKEN_TTL', 1209600, 60, 31536000)
  const config: Config = {
    nodeEnv: env.NODE_ENV ?? 'development',
    port: int(env, 'PORT', 3000, 0, 65535),
    host: env.HOST ?? '127.0.0.1',
    databaseUrl: url(env, 'DATABASE_URL', ['postgresql:', 'postgres:']),
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']),
    redis: redisTarget(env, url(env, 'REDIS_URL', ['redis:', 'rediss:'])),
    dataDir: resolve(env.DATA_DIR ?? './.data'),
    jwtSecret,
    jwtPrivateKey: env.JWT_PRIVATE_KEY === '' ? undefined : env.JWT_PRIVATE_KEY,
    jwtIssuer: nonEmpty(env, 'JWT_ISSUER', 'auth-service'),
    jwtAudience: nonEmpty(env, 'JWT_AUDIENCE', 'auth-service'),
    accessTokenTtl,
    refreshTokenTtl,
    refreshReuseGrace: int(env, 'REFRESH_REUSE_GRACE', 10, 0, 300),
    sessionMaxLifetime: int(env, 'SESSION_MAX_LIFETIME', Math.max(2592000, refreshTokenTtl), refreshTokenTtl, 31536000),
    cookieSecure: bool(env, 'COOKIE_SECURE', true),
    cookieSameSite: sameSite as Config['cookieSameSite'],
    refreshCookieName: cookieName,
    corsOrigins,
    rateLimit: bool(env, 'RATE_LIMIT', true, 'on', 'off'),
    trustProxy: trustProxy(env),
    adminUsername: env.ADMIN_USERNAME || undefined,
    adminPassword: env.ADMIN_PASSWORD || undefined,
    bcryptCost: int(env, 'BCRYPT_COST', 12, 4, 15),
    hashWorkers: int(env, 'HASH_WORKERS', 0, 0, 64),
    migrateOnStart: bool(env, 'MIGRATE_ON_START', true),
    logLevel: env.LOG_LEVEL ?? 'info',
    bodyLimit: int(env, 'BODY_LIMIT', 16384, 1024, 1048576),
    requestTimeout: int(env, 'REQUEST_TIMEOUT', 30, 1, 600),
    pruneInterval: int(env, 'PRUNE_INTERVAL', 3600, 0, 604800),
    revocationPollInterval: int(env, 'REVOCATION_POLL_INTERVAL', 5, 1, 60),
    keyEncryptionSecret: secret(env, 'KEY_ENCRYPTION_SECRET'),
    sessionSecret: secret(env, 'SESSION_SECRET'),
    keyAlgorithm: keyAlgorithm(env),
    revocationFeedToken: secret(env, 'REVOCATION_FEED_TOKEN'),
    metricsPort: env.METRICS_PORT === undefined || env.METRICS_PORT === '' ? undefined : int(env, 'METRICS_PORT', 0, 0, 65535),
    metricsHost: env.METRICS_HOST ?? '127.0.0.1',
    keyRotationInterval: int(env, 'KEY_ROTATION_INTERVAL', 2592000, 10, 31536000),
    jwksMaxAge: int(env, 'JWKS_MAX_AGE', 300, 0, 86400),
    passwordResetTtl: int(env, 'PASSWORD_RESET_TTL', 900, 60, 86400),
    webauthn: webauthn(env),
    dpopRequiredForHeaderMode: bool(env, 'DPOP_REQUIRED', false, 'header', 'off'),
    dpopNonce: bool(env, 'DPOP_NONCE', false, 'on', 'off'),
    reauthMaxAge: int(env, 'REAUTH_MAX_AGE', 600, 10, 86400),
    publicUrl: publicUrl(env)
  }
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(config.logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "${config.logLevel}"`)
  }
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
