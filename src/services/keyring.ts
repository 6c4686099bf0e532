// The keys an instance signs and verifies with, as fast-jwt signers and
// verifiers built once per key: managed keys re-read from the database (on a
// timer and when another instance says they changed), or the one static key.
// A state changes with time (next becomes current), so it is recomputed when
// the next change is due, not on every token.
import { createHash } from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'
import {
  keyStates, keyViews, materialFromPrivate, privateFromRow, publicMaterial,
  type KeyAlgorithm, type KeyMaterial, type KeyRow, type KeyState, type KeyStore, type KeyView
} from './signing-keys.ts'

/** `iat` and `exp` are the caller's (an access token never outlives its session). */
export interface TokenOptions { issuer: string, audience: string, ttl: number, typ: string }

type Sign = (payload: Record<string, unknown>) => string
type Verify = (token: string) => unknown

interface Entry { kid: string, alg: KeyAlgorithm, state: KeyState, sign?: Sign, verify?: Verify, jwk?: Record<string, unknown> }

export interface Keyring {
  managed: boolean
  /** The key that signs now. */
  signer: () => { kid: string, sign: Sign }
  /** The verifier of a key that verifies now (next, current, verifying); undefined for any other kid. */
  verifier: (kid: string) => Verify | undefined
  /** The published key set and its ETag. */
  jwks: () => { body: { keys: Array<Record<string, unknown>> }, etag: string }
  list: () => KeyView[]
  /** Re-reads the keys (managed): after a change on another instance. */
  reload: () => Promise<void>
}

function build (material: Omit<KeyMaterial, 'signingKey'> & { signingKey?: string }, opts: TokenOptions): { sign?: Sign, verify: Verify } {
  const sign = material.signingKey === undefined
    ? undefined
    : createSigner({ key: material.signingKey, algorithm: material.alg, kid: material.kid, iss: opts.issuer, aud: opts.audience, header: { alg: material.alg, typ: opts.typ } }) as Sign
  const verify = createVerifier({
    key: material.verifyingKey,
    algorithms: [material.alg],
    allowedIss: opts.issuer,
    allowedAud: opts.audience,
    checkTyp: opts.typ,
    requiredClaims: ['sub', 'sid', 'jti', 'iat', 'exp', 'iss', 'aud']
  } as unknown as Parameters<typeof createVerifier>[0]) as Verify
  return { sign, verify }
}

function etagOf (body: unknown): string {
  return `"${createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 27)}"`
}

/** JWT_PRIVATE_KEY or JWT_SECRET: one key, always current; rotation is the operator's. */
export function staticKeyring (material: KeyMaterial, jwk: Record<string, unknown> | undefined, opts: TokenOptions): Keyring {
  const { sign, verify } = build(material, opts)
  const body = { keys: jwk === undefined ? [] : [jwk] }
  const etag = etagOf(body)
  const view: KeyView = { kid: material.kid, alg: material.alg, state: 'current', createdAt: new Date(0).toISOString(), signsFrom: new Date(0).toISOString(), retiresAt: null }
  return {
    managed: false,
    signer: () => ({ kid: material.kid, sign: sign! }),
    verifier: (kid) => kid === material.kid ? verify : undefined,
    jwks: () => ({ body, etag }),
    list: () => [view],
    reload: async () => {}
  }
}

/** Managed keys, from the database through `store`. */
export async function managedKeyring (store: KeyStore, kek: Buffer, opts: TokenOptions & { retireAfterMs: number }): Promise<Keyring> {
  let rows: KeyRow[] = []
  const built = new Map<string, { sign?: Sign, verify: Verify }>()
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
      if (b === undefined || (needsSigner && b.sign === undefined)) {
        const material = needsSigner ? materialFromPrivate(row.kid, row.alg as KeyAlgorithm, privateFromRow(kek, row)) : publicMaterial(row)
        b = build(material, opts)
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
    signer () {
      fresh()
      const e = currentKid === undefined ? undefined : entries.get(currentKid)
      if (e?.sign === undefined) throw new Error('no signing key: the key store has no current key')
      return { kid: e.kid, sign: e.sign }
    },
    verifier (kid) {
      fresh()
      return entries.get(kid)?.verify
    },
    jwks () {
      fresh()
      return published
    },
    list: () => keyViews(rows, Date.now(), opts.retireAfterMs),
    reload
  }
}
