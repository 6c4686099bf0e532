// DPoP on the instance: the replay store (Redis, shared by every instance, or
// in process on embedded defaults), the optional server nonces, and the two
// places a proof is checked: token endpoints (login, its second steps,
// refresh) and guarded routes presented a DPoP-bound access token.
import fp from 'fastify-plugin'
import { createHmac, createSecretKey } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.ts'
import { DpopProofInvalidError, unauthorized, UseDpopNonceError } from '../errors.ts'
import { createDpop, createMemoryReplayStore, createRedisReplayStore, normalizeHtu, NonceError, ProofError } from '../tokens/dpop.ts'
import { createCommandRedis } from '../db/redis.ts'
import { authMode } from '../routes/auth/token-response.ts'

export interface DpopGuard {
  /**
   * At a token endpoint: the thumbprint of the proof's key, or undefined
   * when the request has no proof (and may have none). Throws the API's
   * errors for a bad proof. `opening: false` (a refresh or logout of an
   * existing session): DPOP_REQUIRED does not apply, since a session opened
   * without a proof before it was turned on keeps working as it was.
   */
  forTokenEndpoint: (request: FastifyRequest, reply: FastifyReply, opts?: { opening: boolean }) => Promise<string | undefined>
  /** At a guarded route: the proof must be by `jkt`'s key and name `accessToken` (`ath`). */
  forResource: (request: FastifyRequest, reply: FastifyReply, accessToken: string, jkt: string) => Promise<void>
}

/**
 * The request's public URL without its query: PUBLIC_URL's origin when set
 * (never the client's Host header), else the scheme and host the client used
 * (behind TRUST_PROXY, as the proxy says).
 */
export function publicHtu (request: FastifyRequest, publicUrl?: string): string | null {
  const q = request.url.indexOf('?')
  const path = q === -1 ? request.url : request.url.slice(0, q)
  if (publicUrl !== undefined) return normalizeHtu(publicUrl + path)
  const host = request.host
  if (typeof host !== 'string' || host === '') return null
  return normalizeHtu(`${request.protocol}://${host}${path}`)
}

export default fp(async function dpopPlugin (app, opts: { config: Config, redisPrefix?: string }) {
  const { config } = opts
  let replay
  if (config.redis !== undefined) {
    const redis = createCommandRedis(config.redis)
    app.addHook('onClose', async () => { redis.shutdown() })
    replay = createRedisReplayStore(redis, `${opts.redisPrefix ?? 'auth:'}dpop:`)
  } else {
    replay = createMemoryReplayStore()
  }
  app.addHook('onClose', async () => { replay.close() })
  // Nonces every instance accepts: derived from the shared session secret.
  const nonceKey = config.dpopNonce ? createSecretKey(createHmac('sha256', app.keys.sessionSecret).update('dpop-nonce-key').digest()) : undefined
  const dpop = createDpop({ replay, nonceKey })

  async function check (request: FastifyRequest, reply: FastifyReply, accessToken: string | undefined, nonceError: () => Error): Promise<string> {
    const nonce = dpop.nonce()
    if (nonce !== undefined) reply.header('dpop-nonce', nonce)
    const htu = publicHtu(request, config.publicUrl)
    if (htu === null) throw new DpopProofInvalidError('the request URL cannot be known')
    try {
      return await dpop.verify(request.headers.dpop, { htm: request.method, htu, accessToken })
    } catch (err) {
      if (err instanceof ProofError) throw new DpopProofInvalidError(err.message)
      if (err instanceof NonceError) throw nonceError()
      throw err
    }
  }

  const guard: DpopGuard = {
    async forTokenEndpoint (request, reply, opts = { opening: true }) {
      if (request.headers.dpop === undefined) {
        if (opts.opening && config.dpopRequiredForHeaderMode && authMode(request) === 'header') throw new DpopProofInvalidError('this service binds every header-mode session to a DPoP key: send a proof')
        return undefined
      }
      return await check(request, reply, undefined, () => new UseDpopNonceError())
    },
    async forResource (request, reply, accessToken, jkt) {
      const presented = await check(request, reply, accessToken, () => unauthorized(new UseDpopNonceError()))
      if (presented !== jkt) throw new DpopProofInvalidError('the proof is signed by another key than the token is bound to')
    }
  }
  app.decorate('dpop', guard)
}, { name: 'dpop', dependencies: ['signing-keys'] })

declare module 'fastify' {
  interface FastifyInstance {
    dpop: DpopGuard
  }
}
