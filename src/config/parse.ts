// How each setting is read from the environment: every parser names its
// variable in the sentence a bad value stops start-up with.
import { isIP } from 'node:net'
import type { RedisTarget } from '../db/redis.ts'

export class ConfigError extends Error {}

export type Env = Record<string, string | undefined>

export function int (env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`)
  }
  return Number(raw)
}

export function bool (env: Env, name: string, fallback: boolean, yes = 'true', no = 'false'): boolean {
  const raw = env[name]?.toLowerCase()
  if (raw === undefined || raw === '') return fallback
  if (raw === yes || raw === 'true' || raw === '1') return true
  if (raw === no || raw === 'false' || raw === '0') return false
  throw new ConfigError(`${name} must be "${yes}" or "${no}", got "${env[name]}"`)
}

export function url (env: Env, name: string, schemes: string[]): string | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  let parsed: URL
  try { parsed = new URL(raw) } catch { throw new ConfigError(`${name} must be a URL (${schemes.join(' or ')}), got something else`) }
  if (!schemes.includes(parsed.protocol)) throw new ConfigError(`${name} must start with ${schemes.join(' or ')}`)
  return raw
}

/** A secret of 32 bytes or more (RFC 7518: as long as the HMAC's hash), or unset. */
export function secret (env: Env, name: string): string | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  if (Buffer.byteLength(raw) < 32) throw new ConfigError(`${name} must be at least 32 bytes of random data`)
  return raw
}

export function keyAlgorithm (env: Env): 'ES256' | 'EdDSA' {
  const raw = (env.KEY_ALGORITHM ?? 'ES256').trim()
  if (raw === 'ES256' || raw === 'EdDSA') return raw
  throw new ConfigError(`KEY_ALGORITHM must be ES256 or EdDSA, got "${raw}"`)
}

export function nonEmpty (env: Env, name: string, fallback: string): string {
  const raw = env[name]
  if (raw === undefined) return fallback
  // An empty pin would switch the check off: a token with no iss/aud would pass.
  if (raw.trim() === '') throw new ConfigError(`${name} must not be empty: it is pinned in every token (unset it for the default "${fallback}")`)
  return raw
}

/** A proxy's address or CIDR range, IPv4 or IPv6. */
export function isAddressOrCidr (value: string): boolean {
  const [addr, bits, ...rest] = value.split('/')
  const version = isIP(addr)
  if (version === 0 || rest.length > 0) return false
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128))
}

/** `host:port,host:port` (IPv6 in brackets), as `name` lists them. */
function hostPorts (name: string, raw: string): Array<{ host: string, port: number }> {
  return raw.split(',').map((entry) => {
    const m = /^\s*(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})\s*$/.exec(entry)
    if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new ConfigError(`${name} must list host:port pairs separated by commas, got "${entry.trim()}"`)
    return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) }
  })
}

export function redisTarget (env: Env, redisUrl: string | undefined): RedisTarget | undefined {
  const nodes = (env.REDIS_CLUSTER_NODES ?? '').trim()
  if (nodes !== '') {
    // One Redis at a time: a cluster beside a URL or Sentinels would split the revocations between them.
    if (redisUrl !== undefined) throw new ConfigError('set REDIS_URL or REDIS_CLUSTER_NODES, not both')
    if ((env.REDIS_SENTINELS ?? '').trim() !== '' || (env.REDIS_SENTINEL_NAME ?? '') !== '') throw new ConfigError('set REDIS_SENTINELS or REDIS_CLUSTER_NODES, not both: a Redis Cluster fails over by itself, without Sentinels')
    return { cluster: hostPorts('REDIS_CLUSTER_NODES', nodes) }
  }
  const raw = (env.REDIS_SENTINELS ?? '').trim()
  if (raw === '') {
    if ((env.REDIS_SENTINEL_NAME ?? '') !== '') throw new ConfigError('REDIS_SENTINEL_NAME goes with REDIS_SENTINELS (host:port,host:port)')
    return redisUrl === undefined ? undefined : { url: redisUrl }
  }
  if (redisUrl !== undefined) throw new ConfigError('set REDIS_URL or REDIS_SENTINELS, not both')
  const name = (env.REDIS_SENTINEL_NAME ?? '').trim()
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new ConfigError('REDIS_SENTINELS needs REDIS_SENTINEL_NAME, the name the Sentinels monitor the primary under')
  return { sentinels: hostPorts('REDIS_SENTINELS', raw), name }
}

export function webauthn (env: Env): { rpId: string, rpName: string, origins: string[] } {
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
export function publicUrl (env: Env): string | undefined {
  const raw = url(env, 'PUBLIC_URL', ['https:', 'http:'])
  if (raw === undefined) return undefined
  const origin = new URL(raw).origin
  if (origin !== raw.replace(/\/$/, '')) throw new ConfigError(`PUBLIC_URL must be the service's origin such as https://auth.example.com, with no path, query or fragment, got "${raw}"`)
  return origin
}

export function trustProxy (env: Env): boolean | number | string[] {
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
