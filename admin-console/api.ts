// The admin API, through the client library's authFetch (the signed-in
// admin's access token, refreshed as needed). Errors become AuthErrors with
// the service's code and message.
import { AuthError, type AuthClient } from '../client/index.ts'

export interface AdminUser { id: string, username: string, roles: string[], disabled: boolean, createdAt?: string }
export interface AdminSession { id: string, createdAt: string, lastUsedAt: string, userAgent: string | null, ip: string | null, amr: string[] }
export interface SigningKey { kid: string, alg: string, state: string, createdAt: string, signsFrom: string, retiresAt: string | null }
export interface SecurityEvent { id: string, type: string, at: string, userId: string | null, actorId: string | null, ip: string | null, userAgent: string | null, details: Record<string, unknown> }
export interface EventPage { events: SecurityEvent[], nextCursor: string | null }

export function adminApi (client: AuthClient) {
  async function call<T> (method: string, path: string, body?: unknown): Promise<T> {
    const res = await client.authFetch(path, {
      method,
      ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {})
    })
    if (!res.ok) {
      const err = await res.json().catch(() => ({})) as { code?: string, message?: string }
      throw new AuthError(res.status, err.code ?? `HTTP_${res.status}`, err.message ?? res.statusText)
    }
    return res.status === 204 ? undefined as T : await res.json() as T
  }
  const id = encodeURIComponent
  return {
    search: (q: string) => call<AdminUser[]>('GET', `/admin/users/search?q=${id(q)}`),
    create: (username: string, password: string, roles: string[]) => call<AdminUser>('POST', '/admin/users', { username, password, roles }),
    setRoles: (userId: string, roles: string[]) => call<AdminUser>('PUT', `/admin/users/${id(userId)}/roles`, { roles }),
    setDisabled: (userId: string, disabled: boolean) => call<AdminUser>('PATCH', `/admin/users/${id(userId)}`, { disabled }),
    resetToken: (userId: string) => call<{ reset_token: string, expires_in: number }>('POST', `/admin/users/${id(userId)}/password-reset`),
    resetMfa: (userId: string) => call<void>('DELETE', `/admin/users/${id(userId)}/mfa`),
    endAllSessions: (userId: string) => call<void>('POST', `/admin/users/${id(userId)}/logout`),
    sessions: (userId: string) => call<AdminSession[]>('GET', `/admin/users/${id(userId)}/sessions`),
    endSession: (userId: string, sessionId: string) => call<void>('DELETE', `/admin/users/${id(userId)}/sessions/${id(sessionId)}`),
    keys: () => call<SigningKey[]>('GET', '/admin/keys'),
    rotate: () => call<SigningKey>('POST', '/admin/keys/rotate'),
    revoke: (kid: string) => call<unknown>('POST', `/admin/keys/${id(kid)}/revoke`),
    events: (filters: Record<string, string>) => call<EventPage>('GET', `/admin/events?${new URLSearchParams(Object.entries(filters).filter(([, v]) => v !== ''))}`)
  }
}

export type AdminApi = ReturnType<typeof adminApi>
