// A bounded cache of verified access tokens. A hit skips the signature and
// claim checks (and fast-jwt's own cache, which hashes every token with
// SHA-256 to make its key: most of the cost of a cached check). An entry
// never outlives its token's `exp`; the revocation check is not cached and
// runs on every request.
//
// The map's key is the token's last KEY_CHARS characters (its signature's
// tail), and a hit is the whole token, compared: hashing a ~500-character
// token as a map key cost about 4 % of a request (V8 hashes a new string
// char by char, and every request's token is a new string), a comparison
// of two strings is a block compare. A different token with the same tail is
// a miss (it is verified, and replaces the entry), never a hit.
const KEY_CHARS = 24

interface Entry<C> { token: string, claims: C }

export class VerifiedTokens<C extends { exp: number }> {
  private entries = new Map<string, Entry<C>>()
  private max: number
  constructor (max: number) {
    this.max = max
  }

  /** The claims of this exact token, verified before and not yet expired at `nowMs`. */
  get (token: string, nowMs: number): C | undefined {
    const key = token.slice(-KEY_CHARS)
    const entry = this.entries.get(key)
    if (entry === undefined || entry.token !== token) return undefined
    if (entry.claims.exp * 1000 <= nowMs) {
      this.entries.delete(key)
      return undefined
    }
    return entry.claims
  }

  set (token: string, claims: C): void {
    const key = token.slice(-KEY_CHARS)
    if (this.entries.size >= this.max && !this.entries.has(key)) {
      // Oldest first (Map keeps insertion order): a bound, not a policy worth more.
      this.entries.delete(this.entries.keys().next().value!)
    }
    this.entries.set(key, { token, claims })
  }

  get size (): number { return this.entries.size }
}
