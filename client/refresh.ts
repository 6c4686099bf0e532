// One refresh request, sent as often as is safe. A refresh token is spent by
// its first use; shown again within the service's grace window
// (REFRESH_REUSE_GRACE, 10 s by default) it gets the same successor, after it
// it counts as stolen and the session ends. So:
// - each attempt has its own short timeout, and an attempt whose answer is
//   lost (network error, timeout, 5xx) is sent again only while the time since
//   the first send whose outcome is unknown stays inside the budget (a margin
//   under the grace window); past it, the error is reported and the session
//   kept, never ended;
// - a 429 was refused before any work, so it is sent again after Retry-After
//   whatever the budget;
// - only a refusal (401, 403 or 400 with one of the codes below) ends the
//   session.
import { AuthError, errorOf } from './transport.ts'
import type { AuthClientOptions } from './types.ts'

/** The answers that mean the session cannot go on. */
export const REFUSED_CODES = new Set(['REFRESH_TOKEN_REUSED', 'INVALID_REFRESH_TOKEN', 'CSRF_INVALID', 'VALIDATION', 'DPOP_PROOF_INVALID'])

export interface RefreshPolicy {
  /** Timeout of one attempt, in ms. */
  attemptTimeoutMs: number
  /** Resends of an answer lost start at most this long after the first such send (ms). */
  budgetMs: number
  /** Waits between resends, in ms. */
  retryDelays: number[]
  /** The longest Retry-After honoured before reporting the 429 (ms), and how many 429s in a row. */
  maxRateLimitWaitMs: number
  maxRateLimited: number
}

/** The client's policy from its options; resends of a lost refresh stay 2 s inside the service's grace window. */
export function refreshPolicy (options: Pick<AuthClientOptions, 'refreshGrace' | 'refreshTimeout' | 'retryDelays'>): RefreshPolicy {
  const graceMs = (options.refreshGrace ?? 10) * 1000
  return {
    attemptTimeoutMs: options.refreshTimeout ?? 3000,
    budgetMs: Math.max(0, graceMs - 2000),
    retryDelays: options.retryDelays ?? [250, 750, 1500],
    maxRateLimitWaitMs: 60_000,
    maxRateLimited: 3
  }
}

/** The session cannot go on: the service refused the refresh. */
export class RefreshRefused extends Error {
  readonly error: AuthError
  constructor (error: AuthError) {
    super(error.message)
    this.error = error
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Runs `attempt` (one send with the given timeout) until an answer decides:
 * the OK response, a RefreshRefused, or (the session kept) the last AuthError.
 */
export async function refreshWithBudget (attempt: (timeoutMs: number) => Promise<Response>, policy: RefreshPolicy, now: () => number = Date.now): Promise<Response> {
  let firstUnknown: number | undefined
  let lost = 0
  let limited = 0
  for (;;) {
    const sentAt = now()
    let res: Response | undefined
    let failure: AuthError
    try {
      res = await attempt(policy.attemptTimeoutMs)
      if (res.ok) return res
      failure = await errorOf(res)
    } catch (err) {
      if (!(err instanceof AuthError)) throw err
      failure = err
    }
    if (res !== undefined && (res.status === 401 || res.status === 403 || res.status === 400) && REFUSED_CODES.has(failure.code)) throw new RefreshRefused(failure)
    if (res?.status === 429) {
      const wait = failure.retryAfterMs ?? 1000
      if (++limited > policy.maxRateLimited || wait > policy.maxRateLimitWaitMs) throw failure
      await sleep(wait)
      continue
    }
    // Lost or failed on the way (the token may have been spent): resend only inside the budget.
    const unknown = res === undefined || res.status >= 500
    if (!unknown) throw failure
    firstUnknown ??= sentAt
    const delay = policy.retryDelays[Math.min(lost, policy.retryDelays.length - 1)] ?? 0
    lost++
    if (lost > policy.retryDelays.length || now() + delay - firstUnknown >= policy.budgetMs) throw failure
    await sleep(delay)
  }
}
