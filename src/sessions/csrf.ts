// CSRF tokens for cookie mode: an HMAC of the session id, so a token is bound
// to its session (one from another session does not pass) and needs no storage.
import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto'

export function createCsrf (key: KeyObject) {
  function csrfFor (sessionId: string): string {
    return createHmac('sha256', key).update('csrf\0').update(sessionId).digest('base64url')
  }
  return {
    csrfFor,
    csrfMatches (sessionId: string, presented: string): boolean {
      return sameString(presented, csrfFor(sessionId))
    }
  }
}

export type Csrf = ReturnType<typeof createCsrf>

/** Constant-time equality of two strings. */
export function sameString (a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}
