// Where the client keeps what outlives a page or a process: the refresh
// token in header mode, and in cookie mode the CSRF value a SPA on another
// site cannot read from the service's cookie.

/**
 * Where header mode keeps the refresh token. The default is memory only (lost
 * when the process ends). On a phone, back it with the platform's secure store
 * (iOS Keychain, Android Keystore-backed storage such as expo-secure-store or
 * react-native-keychain); in a Node program, a file only its owner can read.
 * Never localStorage: any script on the page could read it.
 */
export interface RefreshTokenStorage {
  get (): Promise<string | null> | string | null
  set (token: string): Promise<void> | void
  clear (): Promise<void> | void
}

export function memoryStorage (initial: string | null = null): RefreshTokenStorage {
  let token = initial
  return {
    get: () => token,
    set: (value) => { token = value },
    clear: () => { token = null }
  }
}

export function readCookie (name: string): string | null {
  const doc = (globalThis as { document?: { cookie?: string } }).document
  if (doc?.cookie === undefined) return null
  for (const part of doc.cookie.split(';')) {
    const eq = part.indexOf('=')
    if (eq !== -1 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim())
  }
  return null
}

/**
 * Cookie mode's CSRF value: the `csrf_token` cookie when the page can read it
 * (same site), else the value the last login or refresh answered with, kept
 * in localStorage so that a reload still has it (a SPA on another site). It
 * is no secret from the page itself, only from other sites, which cannot read
 * this origin's storage.
 */
export class CsrfValue {
  private key: string
  private value: string | null = null
  constructor (key: string) {
    this.key = key
    this.value = this.storage()?.getItem(key) ?? null
  }

  private storage (): Storage | undefined {
    try { return (globalThis as { localStorage?: Storage }).localStorage } catch { return undefined }
  }

  get (): string | null { return readCookie('csrf_token') ?? this.value }

  /** Whether the value comes from the answers only (the service's cookie is not readable here). */
  get crossSite (): boolean { return readCookie('csrf_token') === null && this.value !== null }

  set (value: string): void {
    this.value = value
    try { this.storage()?.setItem(this.key, value) } catch {}
  }

  clear (): void {
    this.value = null
    try { this.storage()?.removeItem(this.key) } catch {}
  }
}
