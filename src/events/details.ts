// From a security log line to a stored event. The log line's fields are
// copied through an allow-list: a field nobody listed here (a token, a code,
// a password a future call site might log by mistake) is never stored or sent.
import { isId } from '../db/ids.ts'

/** What a recorder stores; the context (recorder.ts) fills the address, the agent and the actor. */
export interface EventInput {
  type: string
  userId?: string | null
  actorId?: string | null
  ip?: string | null
  details?: Record<string, unknown>
  /** Finds the user when the call site named only the session (a logout). */
  sessionId?: string
  /** Finds the account when the call site named only the username (a failed login). */
  username?: string
}

// Field of the log line -> key in `details`.
const DETAIL_FIELDS: Record<string, string> = {
  sessionId: 'sessionId',
  username: 'username',
  roles: 'roles',
  kid: 'kid',
  provider: 'provider',
  identityId: 'identityId',
  via: 'via',
  factor: 'factor',
  amr: 'amr',
  how: 'how',
  reason: 'reason',
  endedSessions: 'endedSessions',
  passkeyId: 'passkeyId',
  email: 'email',
  disabled: 'disabled',
  // The email routes' lines (routes/auth/email.ts).
  outcome: 'outcome',
  replacedAddress: 'replacedAddress',
  by: 'by'
}

const MAX_STRING = 128

function clean (value: unknown): unknown {
  if (typeof value === 'string') return value.slice(0, MAX_STRING)
  if (typeof value === 'number' && Number.isFinite(value)) return value
  if (typeof value === 'boolean') return value
  if (Array.isArray(value)) return value.filter((v) => typeof v === 'string').slice(0, 16).map((v: string) => v.slice(0, MAX_STRING))
  return undefined
}

/** The allow-listed details of a log line (or of a domain's own event). */
export function pickDetails (fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [field, key] of Object.entries(DETAIL_FIELDS)) {
    const value = clean(fields[field])
    if (value !== undefined) out[key] = value
  }
  return out
}

// `code` only on a provider's refusal (access_denied …): anywhere else a
// field of that name could be a one-time code, which is never stored.
function providerRefusal (type: string, code: unknown): Record<string, string> {
  return type === 'oidc_failed' && typeof code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? { error: code } : {}
}

const uuidOrNull = (v: unknown): string | null => typeof v === 'string' && isId(v) ? v : null

/** A security log line as an event; undefined for a line that names no event. */
export function fromLogLine (line: Record<string, unknown>): EventInput | undefined {
  const type = line.event
  if (typeof type !== 'string' || !/^[a-z][a-z0-9_]{0,47}$/.test(type)) return undefined
  return {
    type,
    // Admin lines name the user they act on `target`.
    userId: uuidOrNull(line.userId) ?? uuidOrNull(line.target),
    actorId: uuidOrNull(line.actor),
    ip: typeof line.ip === 'string' ? line.ip : null,
    details: { ...pickDetails(line), ...providerRefusal(type, line.code) },
    sessionId: typeof line.sessionId === 'string' && isId(line.sessionId) ? line.sessionId : undefined,
    username: typeof line.username === 'string' ? line.username.slice(0, 64) : undefined
  }
}

/**
 * Who did it, when no one signed in made the request and the line names no
 * actor: the user themselves (a login, a reset with a token), except where
 * no one proved who they are (a failure, a replayed token, a provider's call).
 */
export function selfActed (type: string): boolean {
  return !/_failed$|^refresh_token_reused$|^backchannel_logout$/.test(type) && !ADMIN_ACTIONS.has(type)
}

// An operator's actions: from the CLI (no request) the actor is unknown, never the user acted on.
const ADMIN_ACTIONS = new Set(['roles_changed', 'user_disabled', 'user_enabled', 'user_logged_out', 'mfa_reset', 'password_reset_issued', 'user_created', 'session_revoked', 'signing_key_rotated', 'signing_key_revoked'])
