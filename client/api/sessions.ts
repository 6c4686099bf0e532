// Who is signed in, and where: the user (GET /auth/me), their sessions
// (/auth/sessions), ending one, and ending them all (POST /auth/logout-all).
// Ending this device's own session signs it out here too.
import type { ClientSession } from '../session.ts'
import { json } from '../calls.ts'
import type { Session, User } from '../types.ts'

/** The `sid` claim of an access token (read, not verified: the service verifies). */
function sessionIdOf (accessToken: string): string | undefined {
  try {
    const payload = accessToken.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')
    const claims = JSON.parse(atob(payload.padEnd(payload.length + ((4 - payload.length % 4) % 4), '=')))
    return typeof claims.sid === 'string' ? claims.sid : undefined
  } catch {
    return undefined
  }
}

export async function me (s: ClientSession): Promise<User> {
  const user = await json<User>(s, '/auth/me')
  if (s.tokens !== null) s.tokens.user = user
  return user
}

export function sessions (s: ClientSession): Promise<Session[]> {
  return json<Session[]>(s, '/auth/sessions')
}

export async function endSession (s: ClientSession, id: string): Promise<void> {
  const current = s.tokens !== null ? sessionIdOf(s.tokens.accessToken) : undefined
  await json<void>(s, `/auth/sessions/${encodeURIComponent(id)}`, { method: 'DELETE' })
  if (id === current) await s.signOutLocally('session-ended', true)
}

export async function logoutAll (s: ClientSession): Promise<void> {
  try {
    await json<void>(s, '/auth/logout-all', { method: 'POST' })
  } finally {
    await s.signOutLocally('logout-all', true)
  }
}
