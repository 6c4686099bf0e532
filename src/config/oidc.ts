// OpenID Connect providers from the environment: OIDC_PROVIDERS names them,
// and each name has a block of OIDC_<NAME>_* variables. Only an issuer over
// https is accepted, except on a loopback host (a provider run beside the
// service in development and tests).
import { ConfigError, bool, type Env } from './parse.ts'

export interface OidcProviderConfig {
  /** As in the URLs: /auth/oidc/<name>/… */
  name: string
  label: string
  issuer: string
  clientId: string
  /** Undefined: a public client (PKCE alone). */
  clientSecret: string | undefined
  scopes: string
  /** OIDC_<NAME>_TRUST_EMAIL: a verified email from this provider may link to the account that verified it. */
  trustEmail: boolean
}

export interface OidcConfig {
  providers: OidcProviderConfig[]
  /** Where a sign-in may send the browser back to: http(s) origins, or app schemes such as com.example.app: */
  returnOrigins: string[]
}

/** The variables of one provider's block; `<NAME>` is the provider's name in upper case. */
export const PROVIDER_VARIABLES = ['ISSUER', 'CLIENT_ID', 'CLIENT_SECRET', 'SCOPES', 'LABEL', 'TRUST_EMAIL'] as const
export const OIDC_NAMES = ['OIDC_PROVIDERS', 'OIDC_RETURN_ORIGINS', 'CORS_ORIGINS', 'PUBLIC_URL', ...PROVIDER_VARIABLES.map((v) => `OIDC_<NAME>_${v}`)]

const NAME = /^[a-z][a-z0-9]{0,31}$/
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])

export function isLoopback (url: URL): boolean {
  return LOOPBACK.has(url.hostname)
}

function issuerOf (env: Env, variable: string): string {
  const raw = (env[variable] ?? '').trim()
  let parsed: URL | undefined
  try { parsed = new URL(raw) } catch {}
  if (parsed === undefined || parsed.search !== '' || parsed.hash !== '') throw new ConfigError(`${variable} must be the provider's issuer URL, such as https://accounts.google.com, got "${raw}"`)
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && isLoopback(parsed))) {
    throw new ConfigError(`${variable} must use https (plain http only on a loopback host), got "${raw}"`)
  }
  return raw
}

function returnOrigins (env: Env): string[] {
  const listed = env.OIDC_RETURN_ORIGINS
  const raw = listed === undefined || listed.trim() === ''
    ? [...(env.CORS_ORIGINS ?? '').split(','), env.PUBLIC_URL ?? '']
    : listed.split(',')
  const out: string[] = []
  for (const entry of raw.map((e) => e.trim().replace(/\/$/, '')).filter(Boolean)) {
    // An app's own scheme (RFC 8252 section 7.1), as reverse domain name: com.example.app:
    if (/^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+:$/.test(entry)) { out.push(entry); continue }
    let origin: string | undefined
    try { origin = new URL(entry).origin } catch {}
    if (origin !== entry || !/^https?:$/.test(new URL(entry).protocol)) {
      throw new ConfigError(`OIDC_RETURN_ORIGINS must list origins such as https://app.example.com or app schemes such as com.example.app:, got "${entry}"`)
    }
    out.push(entry)
  }
  return out
}

export function oidcConfig (env: Env): OidcConfig {
  const names = (env.OIDC_PROVIDERS ?? '').split(',').map((n) => n.trim()).filter(Boolean)
  const providers = names.map((name): OidcProviderConfig => {
    if (!NAME.test(name)) throw new ConfigError(`OIDC_PROVIDERS must list names of lower-case letters and digits (such as google,corp), got "${name}"`)
    const prefix = `OIDC_${name.toUpperCase()}_`
    const clientId = (env[`${prefix}CLIENT_ID`] ?? '').trim()
    if (clientId === '') throw new ConfigError(`${prefix}CLIENT_ID is required for the provider "${name}"`)
    const secret = env[`${prefix}CLIENT_SECRET`]
    const scopes = (env[`${prefix}SCOPES`] ?? 'openid email profile').trim()
    if (!scopes.split(/\s+/).includes('openid')) throw new ConfigError(`${prefix}SCOPES must include openid, got "${scopes}"`)
    return {
      name,
      label: (env[`${prefix}LABEL`] ?? '').trim() || name,
      issuer: issuerOf(env, `${prefix}ISSUER`),
      clientId,
      clientSecret: secret === undefined || secret === '' ? undefined : secret,
      scopes,
      trustEmail: bool(env, `${prefix}TRUST_EMAIL`, false)
    }
  })
  if (new Set(names).size !== names.length) throw new ConfigError('OIDC_PROVIDERS names a provider twice')
  if (providers.length > 0 && (env.PUBLIC_URL ?? '') === '') {
    throw new ConfigError('OIDC_PROVIDERS needs PUBLIC_URL: the redirect URIs registered at each provider are PUBLIC_URL/auth/oidc/<name>/callback')
  }
  return { providers, returnOrigins: returnOrigins(env) }
}
