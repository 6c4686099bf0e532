// DPoP proofs (RFC 9449): the checks of section 4.3, on jose's JWS
// verification. A proof names the public key it is signed with (`jwk` in its
// header); the session it opens is bound to that key's thumbprint (RFC 7638),
// and every later use of the session must come with a fresh proof by the same
// key, so a copied refresh or access token alone is worthless.
import { createHash, createHmac, type KeyObject } from 'node:crypto'
import { calculateJwkThumbprint, decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose'
import type { Cluster, Redis } from 'ioredis'
import { ServiceUnavailableError } from '../errors.ts'

const DPOP_ALGS: readonly string[] = ['ES256', 'EdDSA']
/** How far a proof's `iat` may be from the server's clock, either way (seconds). */
export const IAT_WINDOW = 60
/** A `jti` is remembered this long: past it, the proof's `iat` is out of the window anyway. */
const REPLAY_MEMORY_MS = (2 * IAT_WINDOW + 5) * 1000
const PROOF_SHAPE = /^[A-Za-z0-9_-]{2,2048}\.[A-Za-z0-9_-]{2,2048}\.[A-Za-z0-9_-]{2,512}$/
/** Members of a private or symmetric JWK: a proof that shows one is refused. */
const SECRET_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']
const KEY_CACHE_SIZE = 10_000
/** A nonce is good for its period and the next one. */
const NONCE_PERIOD_MS = 5 * 60_000

/** Why a proof was refused; the API answers every reason with one code (DPOP_PROOF_INVALID). */
export class ProofError extends Error {}
/** The proof lacks the current server nonce: the client retries with the one in `DPoP-Nonce`. */
export class NonceError extends Error {}

/** Remembers a proof's `jti` so that the proof is used once, on every instance. */
export interface ReplayStore {
  /** true the first time `id` is claimed within `ttlMs`, false after. */
  claim: (id: string, ttlMs: number) => Promise<boolean>
  close: () => void
}

/** In process (embedded defaults, one instance): a map swept as entries expire. */
export function createMemoryReplayStore (max = 1_000_000): ReplayStore {
  const seen = new Map<string, number>()
  const sweep = () => {
    const now = Date.now()
    // Insertion order is expiry order: every entry lives the same time.
    for (const [id, until] of seen) {
      if (until > now) break
      seen.delete(id)
    }
  }
  const timer = setInterval(sweep, 10_000)
  timer.unref()
  return {
    async claim (id, ttlMs) {
      const now = Date.now()
      const until = seen.get(id)
      if (until !== undefined && until > now) return false
      if (seen.size >= max) sweep()
      // Full of live entries: refusing a fresh proof is better than forgetting a live one.
      if (seen.size >= max) throw new ServiceUnavailableError()
      seen.delete(id)
      seen.set(id, now + ttlMs)
      return true
    },
    close () { clearInterval(timer) }
  }
}

/**
 * In Redis (shared by every instance). A Redis error fails closed: 503, never
 * an unchecked proof. One key a claim, so on a cluster they spread over every
 * shard and need no hash tag.
 */
export function createRedisReplayStore (redis: Redis | Cluster, prefix: string): ReplayStore {
  return {
    async claim (id, ttlMs) {
      let answer: string | null
      try {
        answer = await redis.set(prefix + id, '1', 'PX', ttlMs, 'NX')
      } catch {
        throw new ServiceUnavailableError()
      }
      return answer === 'OK'
    },
    close () {}
  }
}

export interface ProofRequest {
  /** The request's method and its public URL (scheme, host, path; no query). */
  htm: string
  htu: string
  /** The access token the request carries, when it carries one (`ath`). */
  accessToken?: string
}

/**
 * The public URL a proof's `htu` must name: the normalized scheme, host and
 * port, and path, without query or fragment. `null` for a value that is not
 * an absolute http(s) URL or that carries a query or fragment.
 */
export function normalizeHtu (value: string): string | null {
  if (value.includes('?') || value.includes('#')) return null
  let url: URL
  try { url = new URL(value) } catch { return null }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null
  return `${url.protocol}//${url.host}${url.pathname}`
}

export function createDpop (deps: { replay: ReplayStore, nonceKey?: KeyObject, now?: () => number }) {
  const now = deps.now ?? Date.now
  const keys = new Map<string, { key: CryptoKey | Uint8Array, jkt: string }>()
  const nonceKey = deps.nonceKey

  function nonceFor (period: number): string {
    const p = Buffer.alloc(6)
    p.writeUIntBE(period, 0, 6)
    return p.toString('base64url') + createHmac('sha256', nonceKey!).update('dpop-nonce\0').update(p).digest('base64url').slice(0, 22)
  }
  const currentPeriod = () => Math.floor(now() / NONCE_PERIOD_MS)

  /** The nonce to announce now (DPOP_NONCE=on), else undefined. */
  function nonce (): string | undefined {
    return nonceKey === undefined ? undefined : nonceFor(currentPeriod())
  }

  function nonceIsFresh (value: unknown): boolean {
    if (typeof value !== 'string') return false
    const period = currentPeriod()
    return value === nonceFor(period) || value === nonceFor(period - 1)
  }

  /** The key and thumbprint of a proof's (already checked) public JWK: imported once per client, then cached by its members. */
  async function keyFor (jwk: JWK, alg: string): Promise<{ key: CryptoKey | Uint8Array, jkt: string }> {
    const id = `${alg}:${jwk.x}:${jwk.y ?? ''}`
    const cached = keys.get(id)
    if (cached !== undefined) return cached
    const pub: JWK = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, ...(jwk.y !== undefined ? { y: jwk.y } : {}) }
    const entry = { key: await importJWK(pub, alg), jkt: await calculateJwkThumbprint(pub, 'sha256') }
    if (keys.size >= KEY_CACHE_SIZE) keys.delete(keys.keys().next().value!)
    keys.set(id, entry)
    return entry
  }

  /**
   * Checks one proof for one request (RFC 9449 section 4.3) and returns the
   * thumbprint of its key. Throws ProofError (or NonceError) without
   * remembering anything for a proof that fails; the `jti` of one that passes
   * every other check is claimed last, so a proof is accepted once.
   */
  async function verify (proof: string | string[] | undefined, request: ProofRequest): Promise<string> {
    if (typeof proof !== 'string' || !PROOF_SHAPE.test(proof)) throw new ProofError('one DPoP header holding a compact JWS is required')
    let header: ReturnType<typeof decodeProtectedHeader>
    try { header = decodeProtectedHeader(proof) } catch { throw new ProofError('the header does not decode') }
    if (header.typ !== 'dpop+jwt') throw new ProofError('typ must be dpop+jwt')
    const alg = header.alg
    if (alg === undefined || !DPOP_ALGS.includes(alg)) throw new ProofError('alg must be ES256 or EdDSA')
    const jwk = header.jwk
    if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) throw new ProofError('jwk must be the public key')
    if (SECRET_MEMBERS.some((m) => m in jwk)) throw new ProofError('jwk must be a public key, never a private one')
    const curveOk = alg === 'ES256'
      ? jwk.kty === 'EC' && jwk.crv === 'P-256' && typeof jwk.x === 'string' && typeof jwk.y === 'string'
      : jwk.kty === 'OKP' && jwk.crv === 'Ed25519' && typeof jwk.x === 'string' && jwk.y === undefined
    if (!curveOk) throw new ProofError('jwk does not fit alg')
    let jkt: string
    let payload: Record<string, unknown>
    try {
      const entry = await keyFor(jwk, alg)
      jkt = entry.jkt
      ;({ payload } = await jwtVerify(proof, entry.key, { typ: 'dpop+jwt', algorithms: [alg], clockTolerance: IAT_WINDOW }))
    } catch {
      throw new ProofError('the signature does not verify')
    }
    if (typeof payload.jti !== 'string' || payload.jti.length < 8 || payload.jti.length > 256) throw new ProofError('jti is required')
    if (payload.htm !== request.htm) throw new ProofError('htm does not match the request method')
    if (typeof payload.htu !== 'string' || normalizeHtu(payload.htu) !== request.htu) throw new ProofError('htu does not match the request URL')
    const iat = payload.iat
    if (typeof iat !== 'number' || !Number.isFinite(iat) || Math.abs(now() / 1000 - iat) > IAT_WINDOW) throw new ProofError('iat is outside the accepted window')
    if (request.accessToken !== undefined) {
      const ath = createHash('sha256').update(request.accessToken).digest('base64url')
      if (payload.ath !== ath) throw new ProofError('ath does not match the access token')
    }
    if (nonceKey !== undefined && !nonceIsFresh(payload.nonce)) throw new NonceError()
    if (!(await deps.replay.claim(`${jkt}:${createHash('sha256').update(payload.jti).digest('base64url')}`, REPLAY_MEMORY_MS))) {
      throw new ProofError('this proof was used before')
    }
    return jkt
  }

  return { verify, nonce }
}

export type Dpop = ReturnType<typeof createDpop>
