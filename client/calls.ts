// Calls with the session's access token: authFetch (public) and json (what
// the wrappers in api/ use). The token goes only to the service's origin and
// the apiOrigins, with a DPoP proof when the session is bound.
import { errorOf } from './transport.ts'
import type { ClientSession } from './session.ts'

export async function authFetch (s: ClientSession, path: string, init: RequestInit = {}): Promise<Response> {
  const target = s.target(path)
  await s.ensureFresh()
  const attempt = async () => {
    const { accessToken, tokenType } = s.tokens!
    const headers = new Headers(init.headers)
    headers.set('authorization', `${tokenType} ${accessToken}`)
    return await s.send(target.href, { ...init, headers, ...(tokenType === 'DPoP' ? { proof: { accessToken } } : {}) })
  }
  const used = s.tokens!.accessToken
  const res = await attempt()
  if (res.status !== 401) return res
  const code = (await errorOf(res.clone())).code
  if (code !== 'TOKEN_EXPIRED' && code !== 'TOKEN_REVOKED') return res
  // Once: a refresh, then the same request again. A revoked session fails the
  // refresh, which signs out; there is no second retry.
  await s.refresh(used)
  return await attempt()
}

/**
 * An authFetch that answers the body (nothing for a 204) and throws an error
 * answer; a step-up answer first asks the app (onReauthRequired) and sends
 * the call again once (reauth.ts).
 */
export async function json<T> (s: ClientSession, path: string, init?: RequestInit): Promise<T> {
  const res = await s.stepUp.send(() => authFetch(s, path, init))
  if (!res.ok) throw await errorOf(res)
  return res.status === 204 ? (undefined as T) : await res.json()
}

export function jsonBody (method: string, value: unknown): RequestInit {
  return { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) }
}
