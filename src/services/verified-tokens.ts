// A bounded cache of verified access tokens, keyed by the token string itself.
// A hit skips the signature and claim checks (and fast-jwt's own cache, which
// hashes every token with SHA-256 to make its key: most of the cost of a
// cached check). An entry never outlives its token's `exp`; the revocation
// check is not cached and runs on every request.
export class VerifiedTokens<C extends { exp: number }> {
  private entries = new Map<string, C>()
  private max: number
  constructor (max: number) {
    this.max = max
  }

  /** The claims of a token verified before and not yet expired at `nowMs`. */
  get (token: string, nowMs: number): C | undefined {
    const claims = this.entries.get(token)
    if (claims === undefined) return undefined
    if (claims.exp * 1000 <= nowMs) {
      this.entries.delete(token)
      return undefined
    }
    return claims
  }

  set (token: string, claims: C): void {
    if (this.entries.size >= this.max) {
      // Oldest first (Map keeps insertion order): a bound, not a policy worth more.
      this.entries.delete(this.entries.keys().next().value!)
    }
    this.entries.set(token, claims)
  }

  get size (): number { return this.entries.size }
}
