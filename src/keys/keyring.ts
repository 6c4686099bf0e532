// The keys an instance signs and verifies with, by kid: the key material
// (PEM, or the HS256 secret) that @fastify/jwt builds and caches one fast-jwt
// signer or verifier per key string from (plugins/tokens.ts). Managed keys are
// re-read from the database (on a timer and when another instance says they
// changed), or there is the one static key. A state changes with time (next
// becomes current), so it is recomputed when the next change is due, not on
// every token.
import { createHash } from 'node:crypto'
import {
  keyStates, keyViews, materialFromPrivate, privateFromRow, publicMaterial,
  type KeyAlgorithm, type KeyMaterial, type KeyRow, type KeyState, type KeyView
} from './signing-keys.ts'
import type { KeyStore } from './store.ts'

/** A key as the token plugin uses it: its algorithm and the string fast-jwt takes. */
export interface KeyUse { kid: string, alg: KeyAlgorithm, key: string }

interface Entry { kid: string, alg: KeyAlgorithm, state: KeyState, signingKey?: string, verifyingKey: string, jwk?: Record<string, unknown> }

export interface Keyring {
  managed: boolean
  /** The algorithms any key of this ring may use: pinned in every verification. */
  algorithms: KeyAlgorithm[]
  /** The key that signs now (private PEM, or the HS256 secret). */
  signer: () => KeyUse
  /** The key that verifies tokens of `kid` now (next, current, verifying); undefined for any other kid. */
  verifier: (kid: string) => KeyUse | undefined
  /** The published key set and its ETag. */
  jwks: () => { body: { keys: Array<Record<string, unknown>> }, etag: string }
  list: () => KeyView[]
  /** Re-reads the keys (managed): after a change on another instance. */
  reload: () => Promise<void>
}

function etagOf (body: unknown): string {
  return `"${createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 27)}"`
}

/** JWT_PRIVATE_KEY or JWT_SECRET: one key, always current; rotation is the operator's. */
export function staticKeyring (material: KeyMaterial, jwk: Record<string, unknown> | undefined): Keyring {
  const signing: KeyUse = { kid: material.kid, alg: material.alg, key: material.signingKey }
  const verifying: KeyUse = { kid: material.kid, alg: material.alg, key: material.verifyingKey }
  const body = { keys: jwk === undefined ? [] : [jwk] }
  const etag = etagOf(body)
  const view: KeyView = { kid: material.kid, alg: material.alg, state: 'current', createdAt: new Date(0).toISOString(), signsFrom: new Date(0).toISOString(), retiresAt: null }
  return {
    managed: false,
    algorithms: [material.alg],
    signer: () => signing,
    verifier: (kid) => kid === material.kid ? verifying : undefined,
    jwks: () => ({ body, etag }),
    list: () => [view],
    reload: async () => {}
  }
}

/** Managed keys, from the database through `store`. */
export async function managedKeyring (store: KeyStore, kek: Buffer, opts: { retireAfterMs: number }): Promise<Keyring> {
  let rows: KeyRow[] = []
  const built = new Map<string, { signingKey?: string, verifyingKey: string }>()
  let entries = new Map<string, Entry>()
  let currentKid: string | undefined
  let published = { body: { keys: [] as Array<Record<string, unknown>> }, etag: etagOf({ keys: [] }) }
  let nextChange = Infinity

  function recompute (now: number): void {
    const states = keyStates(rows, now, opts.retireAfterMs)
    const next = new Map<string, Entry>()
    nextChange = Infinity
    currentKid = undefined
    for (const row of rows) {
      const s = states.get(row.kid)!
      if (s.state === 'next') nextChange = Math.min(nextChange, row.signsFrom.getTime())
      if (s.state === 'verifying') nextChange = Math.min(nextChange, s.retiresAt!.getTime())
      if (s.state === 'revoked' || s.state === 'retired') continue
      let b = built.get(row.kid)
      const needsSigner = s.state === 'current' || s.state === 'next'
      if (b === undefined || (needsSigner && b.signingKey === undefined)) {
        const material: Omit<KeyMaterial, 'signingKey'> & { signingKey?: string } = needsSigner ? materialFromPrivate(row.kid, row.alg as KeyAlgorithm, privateFromRow(kek, row)) : publicMaterial(row)
        b = { signingKey: material.signingKey, verifyingKey: material.verifyingKey }
        built.set(row.kid, b)
      }
      next.set(row.kid, { kid: row.kid, alg: row.alg as KeyAlgorithm, state: s.state, ...b, jwk: row.publicJwk as Record<string, unknown> })
      if (s.state === 'current') currentKid = row.kid
    }
    for (const kid of built.keys()) if (!next.has(kid)) built.delete(kid)
    entries = next
    const body = { keys: [...next.values()].map((e) => e.jwk!) }
    published = { body, etag: etagOf(body) }
  }

  function fresh (): void {
    const now = Date.now()
    if (now >= nextChange) recompute(now)
  }

  async function reload (): Promise<void> {
    rows = await store.load()
    recompute(Date.now())
  }

  await reload()
  return {
    managed: true,
    algorithms: ['ES256', 'EdDSA'],
    signer () {
      fresh()
      const e = currentKid === undefined ? undefined : entries.get(currentKid)
      if (e?.signingKey === undefined) throw new Error('no signing key: the key store has no current key')
      return { kid: e.kid, alg: e.alg, key: e.signingKey }
    },
    verifier (kid) {
      fresh()
      const e = entries.get(kid)
      return e === undefined ? undefined : { kid: e.kid, alg: e.alg, key: e.verifyingKey }
    },
    jwks () {
      fresh()
      return published
    },
    list: () => keyViews(rows, Date.now(), opts.retireAfterMs),
    reload
  }
}
