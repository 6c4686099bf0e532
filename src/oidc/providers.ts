// The configured providers, each discovered from its issuer by openid-client
// the first time it is needed and again every hour (a failed discovery is
// retried at the next request, never cached). Their keys (JWKS) are held by
// jose's remote key set: cached, and fetched again when a token names a kid
// it does not know.
import * as client from 'openid-client'
import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose'
import type { OidcConfig, OidcProviderConfig } from '../config/oidc.ts'
import { isLoopback } from '../config/oidc.ts'
import { NotFoundError, OidcProviderUnavailableError } from '../errors.ts'

const REDISCOVER_MS = 3_600_000
/** An unknown kid fetches the provider's keys again, at most this often (whoever sends it). */
export const KEYS_COOLDOWN_MS = 5_000
/** Seconds a request to a provider may take (discovery, token endpoint, keys). */
const PROVIDER_TIMEOUT = 10

export interface Provider {
  config: OidcProviderConfig
  /** PUBLIC_URL/auth/oidc/<name>/callback, as registered at the provider. */
  redirectUri: string
  /** The discovered configuration (throws OIDC_PROVIDER_UNAVAILABLE while the provider cannot be reached). */
  client: () => Promise<client.Configuration>
  /** The provider's signing keys, for ID tokens given by apps and for logout tokens. */
  keys: () => Promise<{ getKey: JWTVerifyGetKey, algorithms: string[] }>
}

export function createProviders (cfg: OidcConfig, publicUrl: string | undefined) {
  const providers = new Map<string, Provider>()
  for (const p of cfg.providers) providers.set(p.name, provider(p, `${publicUrl}/auth/oidc/${p.name}/callback`))

  return {
    list: () => [...providers.values()].map((p) => ({ name: p.config.name, label: p.config.label })),
    /** The provider by name, or 404 NOT_FOUND. */
    get (name: string): Provider {
      const p = providers.get(name)
      if (p === undefined) throw new NotFoundError('No such identity provider')
      return p
    },
    has: (name: string) => providers.has(name)
  }
}

export type Providers = ReturnType<typeof createProviders>

function provider (config: OidcProviderConfig, redirectUri: string): Provider {
  let discovered: { at: number, value: client.Configuration } | undefined
  let pending: Promise<client.Configuration> | undefined
  let jwks: { uri: string, getKey: JWTVerifyGetKey } | undefined

  async function discover (): Promise<client.Configuration> {
    const issuer = new URL(config.issuer)
    const auth = config.clientSecret === undefined ? client.None() : client.ClientSecretBasic(config.clientSecret)
    const execute = issuer.protocol === 'http:' && isLoopback(issuer) ? [client.allowInsecureRequests] : []
    try {
      const value = await client.discovery(issuer, config.clientId, config.clientSecret, auth, { execute, timeout: PROVIDER_TIMEOUT })
      // ID tokens from the token endpoint are checked against the provider's keys too, not only trusted for the TLS they came over.
      client.enableNonRepudiationChecks(value)
      discovered = { at: Date.now(), value }
      return value
    } catch (err) {
      // Discovery failed: a provider seen before keeps its last discovered configuration.
      if (discovered !== undefined) return discovered.value
      throw new OidcProviderUnavailableError({ cause: err })
    }
  }

  async function configuration (): Promise<client.Configuration> {
    if (discovered !== undefined && Date.now() - discovered.at < REDISCOVER_MS) return discovered.value
    pending ??= discover().finally(() => { pending = undefined })
    return await pending
  }

  return {
    config,
    redirectUri,
    client: configuration,
    async keys () {
      const meta = (await configuration()).serverMetadata()
      if (meta.jwks_uri === undefined) throw new OidcProviderUnavailableError()
      if (jwks?.uri !== meta.jwks_uri) {
        jwks = { uri: meta.jwks_uri, getKey: createRemoteJWKSet(new URL(meta.jwks_uri), { timeoutDuration: PROVIDER_TIMEOUT * 1000, cooldownDuration: KEYS_COOLDOWN_MS, cacheMaxAge: 600_000 }) }
      }
      // Asymmetric algorithms only: never "none", never an HMAC keyed with the client secret.
      const advertised = meta.id_token_signing_alg_values_supported ?? ['RS256']
      const algorithms = advertised.filter((a) => /^(RS|PS|ES)(256|384|512)$|^EdDSA$|^Ed25519$/.test(a))
      return { getKey: jwks.getKey, algorithms: algorithms.length > 0 ? algorithms : ['RS256'] }
    }
  }
}
