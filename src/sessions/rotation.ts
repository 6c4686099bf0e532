// Refresh-token rotation: one-time tokens (RFC 9700 4.14.2).
//
// A successor token is derived from its predecessor with a server-side HMAC,
// so presenting a spent token inside the grace window (two tabs refreshing at
// once, a retry after a lost response) walks the chain and answers with the
// one live head: every racer ends holding the same working token, and no
// second live head ever exists. After the window, a spent token is theft: the
// session ends.
import { createHmac, randomUUID, type KeyObject } from 'node:crypto'
import { DpopProofInvalidError, InvalidRefreshTokenError, RefreshTokenReusedError } from '../errors.ts'
import type { AccountUser } from '../accounts/accounts.ts'
import { hashToken, TOKEN_SHAPE, type Rotation, type Sessions } from './sessions.ts'
import type { SessionStore, TokenRow } from './store.ts'

const MAX_CHAIN_WALK = 32

export function createRotation (deps: {
  store: SessionStore
  sessions: Sessions
  /** Derives successors; never the signing key, so a key change breaks no session. */
  hmacKey: KeyObject
  refreshTtl: number
  reuseGrace: number
  onReuse?: (info: { sessionId: string, userId: string }) => void
}) {
  const { store, hmacKey } = deps
  const successorOf = (raw: string) => createHmac('sha256', hmacKey).update('refresh-successor\0').update(raw).digest('base64url')

  // The hot path of refresh is one statement in header mode and two in
  // cookie mode (the CSRF check needs the session before anything changes),
  // sent to the driver as prepared statements (store.ts).
  async function lookup (raw: string): Promise<TokenRow | null> {
    return await store.lookup(hashToken(raw))
  }

  function usable (row: TokenRow | null, now: number): row is TokenRow {
    return row !== null && row.revokedAt === null && row.sessionExpiresAt.getTime() > now && row.expiresAt.getTime() > now && !row.disabled
  }

  /**
   * `check` runs once the token's session is known and before anything
   * changes (the CSRF binding). `dpopJkt`: the key of the request's DPoP
   * proof, if it has one.
   *
   * A session bound when it opened: a token shown without a proof by its key
   * is refused before reuse detection and ends nothing, so a thief holding
   * only the token can neither use it nor end the owner's session. A session
   * bound at a refresh: whoever proved first became its owner, maybe a thief
   * who had the token, so a spent token after the grace window ends it
   * whatever proof comes with it: binding never escapes reuse detection.
   */
  async function rotate (raw: string, check?: (sessionId: string) => void, dpopJkt: string | null = null): Promise<Rotation> {
    if (!TOKEN_SHAPE.test(raw)) throw new InvalidRefreshTokenError()
    const now = Date.now()
    if (check !== undefined) {
      const found = await lookup(raw)
      if (!usable(found, now)) throw new InvalidRefreshTokenError()
      // A spent token of a session bound at a refresh is judged below, by reuse detection.
      if (!(found.dpopBoundAtRefresh && found.usedAt !== null)) holdsKey(found.dpopJkt, dpopJkt)
      check(found.sessionId)
    }
    const next = successorOf(raw)
    const row = await store.lookupAndRotate(hashToken(raw), new Date(now), randomUUID(), hashToken(next), new Date(now + deps.refreshTtl * 1000), dpopJkt)
    if (row === null) throw new InvalidRefreshTokenError()
    if (row.nextExpiresAt === null && row.dpopJkt !== null && !row.dpopBoundAtRefresh) holdsKey(row.dpopJkt, dpopJkt)
    if (!usable(row, now)) throw new InvalidRefreshTokenError()
    const user: AccountUser = { id: row.userId, username: row.username, disabled: row.disabled, tokenVersion: row.tokenVersion, roles: row.roles, email: row.email, emailVerified: row.emailVerified }
    const endsAt = Math.floor(row.sessionExpiresAt.getTime() / 1000)
    const signIn = { amr: row.amr ?? [], authTime: Math.floor(row.authTime.getTime() / 1000), endsAt }
    if (row.nextExpiresAt !== null) {
      return { refreshToken: next, refreshExpiresIn: Math.round((row.nextExpiresAt.getTime() - now) / 1000), sessionId: row.sessionId, user, ...signIn, dpopJkt: row.dpopJkt ?? dpopJkt }
    }

    // Not rotated: spent before (or just now by a concurrent request). Read the
    // token and its session's binding as they are now, not as the statement saw them.
    const spent = await store.spentState(row.id)
    const inGrace = spent.usedAt !== null && now - spent.usedAt.getTime() <= deps.reuseGrace * 1000
    const bound = spent.session.dpopJkt
    if (spent.usedAt === null || inGrace || !spent.session.dpopBoundAtRefresh) holdsKey(bound, dpopJkt)
    if (spent.usedAt === null) throw new InvalidRefreshTokenError()
    if (inGrace) return walkToHead(raw, row.id, row.sessionId, user, { ...signIn, dpopJkt: bound }, now)
    // Reuse after the grace window: the token was stolen, or the client is broken. End the session.
    await deps.sessions.endSession(row.sessionId, 'refresh-reuse')
    deps.onReuse?.({ sessionId: row.sessionId, userId: user.id })
    throw new RefreshTokenReusedError()
  }

  function holdsKey (bound: string | null, dpopJkt: string | null): void {
    if (bound !== null && bound !== dpopJkt) throw new DpopProofInvalidError(dpopJkt === null ? 'this session is bound to a key: send a proof by it' : 'the proof is signed by another key than the session is bound to')
  }

  async function walkToHead (raw: string, id: string, sessionId: string, user: AccountUser, signIn: { amr: string[], authTime: number, endsAt: number, dpopJkt: string | null }, now: number): Promise<Rotation> {
    let current = raw
    let currentId = id
    for (let i = 0; i < MAX_CHAIN_WALK; i++) {
      const child = await store.childOf(currentId)
      if (child === null) break
      current = successorOf(current)
      if (hashToken(current) !== child.tokenHash) break
      if (child.usedAt === null) {
        return { refreshToken: current, refreshExpiresIn: Math.max(0, Math.round((child.expiresAt.getTime() - now) / 1000)), sessionId, user, ...signIn, grace: true }
      }
      currentId = child.id
    }
    throw new InvalidRefreshTokenError()
  }

  return { rotate }
}

export type RefreshRotation = ReturnType<typeof createRotation>
