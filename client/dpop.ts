// DPoP proofs (RFC 9449) signed with WebCrypto: an ES256 key pair whose
// private half is created non-extractable in a browser (page scripts can use
// it to sign but can never read it), kept in a key store so that a reload or
// a restart keeps the session's binding.
export interface DpopKeyStore {
  load (): Promise<CryptoKeyPair | null>
  save (pair: CryptoKeyPair): Promise<void>
  clear (): Promise<void>
  /** Whether the private key must be extractable (a store that writes it out, such as a file). Default false. */
  readonly extractable?: boolean
}

export function memoryKeyStore (): DpopKeyStore {
  let pair: CryptoKeyPair | null = null
  return {
    load: async () => pair,
    save: async (p) => { pair = p },
    clear: async () => { pair = null }
  }
}

/**
 * The browser's IndexedDB: CryptoKey objects are stored as they are
 * (structured clone), the private key still non-extractable, one pair per
 * database name, shared by the origin's tabs.
 */
export function indexedDbKeyStore (name = 'auth-client-dpop'): DpopKeyStore {
  const open = () => new Promise<IDBDatabase>((resolve, reject) => {
    const req = indexedDB.open(name, 1)
    req.onupgradeneeded = () => { req.result.createObjectStore('keys') }
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(req.error)
  })
  const run = async <T>(mode: IDBTransactionMode, fn: (store: IDBObjectStore) => IDBRequest): Promise<T> => {
    const db = await open()
    try {
      return await new Promise<T>((resolve, reject) => {
        const tx = db.transaction('keys', mode)
        const req = fn(tx.objectStore('keys'))
        tx.oncomplete = () => resolve(req.result as T)
        tx.onerror = () => reject(tx.error)
        tx.onabort = () => reject(tx.error)
      })
    } finally {
      db.close()
    }
  }
  return {
    load: async () => (await run<CryptoKeyPair | undefined>('readonly', (s) => s.get('pair'))) ?? null,
    save: async (pair) => { await run('readwrite', (s) => s.put(pair, 'pair')) },
    clear: async () => { await run('readwrite', (s) => s.delete('pair')) }
  }
}

export function dpopAvailable (): boolean {
  return typeof globalThis.crypto?.subtle?.generateKey === 'function'
}

/**
 * The client's signer. DPoP is on by default where WebCrypto is: the session
 * is bound to the key pair, kept in IndexedDB in a browser (a reload keeps
 * the binding), in memory elsewhere, or in the key store the app gives; a
 * stolen refresh or access token is worthless without it.
 */
export function dpopSigner (options: { dpop?: boolean | DpopKeyStore, storage?: unknown }, inBrowser: boolean, base: URL): DpopSigner | undefined {
  if (options.dpop === false || !dpopAvailable()) return undefined
  if (typeof options.dpop === 'object') return new DpopSigner(options.dpop)
  if (inBrowser && typeof indexedDB !== 'undefined') return new DpopSigner(indexedDbKeyStore(`auth-client-dpop:${base.href}`))
  // A refresh token kept somewhere lasting, with the key in memory, would outlive its key: off unless asked.
  if (options.dpop === undefined && options.storage !== undefined) return undefined
  return new DpopSigner(memoryKeyStore())
}

const encoder = new TextEncoder()

function b64url (bytes: Uint8Array | ArrayBuffer): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)
  let s = ''
  for (const b of view) s += String.fromCharCode(b)
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

const json64 = (value: unknown) => b64url(encoder.encode(JSON.stringify(value)))

function randomId (): string {
  const bytes = new Uint8Array(16)
  globalThis.crypto.getRandomValues(bytes)
  return b64url(bytes)
}

/** Signs proofs with the store's key pair, making (and saving) one the first time. */
export class DpopSigner {
  private store: DpopKeyStore
  private current: Promise<{ pair: CryptoKeyPair, jwk: JsonWebKey, jkt: string }> | null = null
  /** The service's last nonce (DPoP-Nonce), sent in every proof from then on. */
  nonce: string | undefined

  constructor (store: DpopKeyStore) {
    this.store = store
  }

  private async key (): Promise<{ pair: CryptoKeyPair, jwk: JsonWebKey, jkt: string }> {
    this.current ??= (async () => {
      let pair = await this.store.load()
      if (pair === null) {
        pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, this.store.extractable === true, ['sign', 'verify']) as CryptoKeyPair
        await this.store.save(pair)
      }
      const full = await crypto.subtle.exportKey('jwk', pair.publicKey)
      const jwk = { kty: full.kty, crv: full.crv, x: full.x, y: full.y }
      // RFC 7638: the required members in lexicographic order, no spaces.
      const digest = await crypto.subtle.digest('SHA-256', encoder.encode(`{"crv":"${jwk.crv}","kty":"${jwk.kty}","x":"${jwk.x}","y":"${jwk.y}"}`))
      return { pair, jwk, jkt: b64url(digest) }
    })()
    try {
      return await this.current
    } catch (err) {
      this.current = null
      throw err
    }
  }

  /** The thumbprint of the key proofs are signed with. */
  async thumbprint (): Promise<string> { return (await this.key()).jkt }

  /** Reads the key from the store again (another tab may have replaced it). */
  reload (): void { this.current = null }

  /** Forgets the key (at sign-out): the next session gets a new one. */
  async discard (): Promise<void> {
    this.current = null
    this.nonce = undefined
    await this.store.clear()
  }

  async proof (htm: string, htu: string, nowMs: number, accessToken?: string): Promise<string> {
    const { pair, jwk } = await this.key()
    const claims: Record<string, unknown> = { htm, htu, iat: Math.floor(nowMs / 1000), jti: randomId() }
    if (accessToken !== undefined) claims.ath = b64url(await crypto.subtle.digest('SHA-256', encoder.encode(accessToken)))
    if (this.nonce !== undefined) claims.nonce = this.nonce
    const input = `${json64({ typ: 'dpop+jwt', alg: 'ES256', jwk })}.${json64(claims)}`
    // WebCrypto's ECDSA signature is r || s, exactly the JWS form (RFC 7518 section 3.4).
    const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, encoder.encode(input))
    return `${input}.${b64url(signature)}`
  }
}
