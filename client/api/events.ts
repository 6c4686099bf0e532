// The account's activity (GET /auth/events): the user's last 50 security
// events, newest first: sign-ins and failures, second steps, password and
// session changes, and what an admin did to the account.
import type { ClientSession } from '../session.ts'
import { json } from '../calls.ts'

/** One security event of the signed-in user's account. */
export interface AccountEvent {
  id: string
  /** login, login_failed, password_changed, roles_changed … (docs/api.md). */
  type: string
  /** ISO 8601. */
  at: string
  userId: string | null
  /** Who did it: the user themselves, an admin's id, or null (a failure: no one proved who they are). */
  actorId: string | null
  ip: string | null
  userAgent: string | null
  /** Never a password, token, code or secret. */
  details: Record<string, unknown>
}

export function events (s: ClientSession): Promise<AccountEvent[]> {
  return json<AccountEvent[]>(s, '/auth/events')
}
