// A software WebAuthn authenticator for tests: makes the registration and
// authentication responses a browser would send (fmt "none", ES256), with
// every part that a test may want to get wrong on purpose.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { Client } from './client.ts'

// Just enough CBOR (RFC 8949) for an attestation object and a COSE key.
function head (major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n])
  if (n < 256) return Buffer.from([(major << 5) | 24, n])
  if (n < 65536) return Buffer.from([(major << 5) | 25, n >> 8, n & 255])
  const b = Buffer.alloc(5); b[0] = (major << 5) | 26; b.writeUInt32BE(n, 1); return b
}
type Cbor = number | string | Buffer | Map<number | string, Cbor>
export function cbor (v: Cbor): Buffer {
  if (typeof v === 'number') return v >= 0 ? head(0, v) : head(1, -1 - v)
  if (typeof v === 'string') { const s = Buffer.from(v); return Buffer.concat([head(3, s.length), s]) }
  if (Buffer.isBuffer(v)) return Buffer.concat([head(2, v.length), v])
  const parts = [head(5, v.size)]
  for (const [k, val] of v) parts.push(cbor(k), cbor(val))
  return Buffer.concat(parts)
}

const b64u = (b: Buffer | string) => Buffer.from(b).toString('base64url')
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest()

export interface Credential { id: Buffer, key: KeyObject, publicKey: KeyObject, counter: number, userHandle: Buffer }

export interface Overrides { origin?: string, rpId?: string, challenge?: string, counter?: number, type?: string, userVerified?: boolean }

export class SoftAuthenticator {
  credentials: Credential[] = []
  /** singleDevice (hwk) unless backed up (multiDevice: swk). */
  backedUp = false
  origin: string
  rpId: string
  constructor (origin: string, rpId = new URL(origin).hostname) {
    this.origin = origin
    this.rpId = rpId
  }

  private flags (o: Overrides, attested: boolean): number {
    let f = 0x01 // user present
    if (o.userVerified !== false) f |= 0x04
    if (this.backedUp) f |= 0x08 | 0x10
    if (attested) f |= 0x40
    return f
  }

  private clientData (type: string, challenge: string, o: Overrides): Buffer {
    return Buffer.from(JSON.stringify({ type: o.type ?? type, challenge: o.challenge ?? challenge, origin: o.origin ?? this.origin, crossOrigin: false }))
  }

  /** The response to creation options (their JSON form), as navigator.credentials.create would give it. */
  register (options: { challenge: string, user: { id: string } }, o: Overrides = {}) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const jwk = publicKey.export({ format: 'jwk' })
    const cose = cbor(new Map<number, Cbor>([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x!, 'base64url')], [-3, Buffer.from(jwk.y!, 'base64url')]]))
    const id = randomBytes(16)
    const counter = o.counter ?? 0
    const count = Buffer.alloc(4); count.writeUInt32BE(counter)
    const idLen = Buffer.alloc(2); idLen.writeUInt16BE(id.length)
    const authData = Buffer.concat([sha256(o.rpId ?? this.rpId), Buffer.from([this.flags(o, true)]), count, Buffer.alloc(16), idLen, id, cose])
    const attestationObject = cbor(new Map<string, Cbor>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]))
    const credential = { id, key: privateKey, publicKey, counter, userHandle: Buffer.from(options.user.id, 'base64url') }
    this.credentials.push(credential)
    return {
      id: b64u(id),
      rawId: b64u(id),
      type: 'public-key',
      response: { clientDataJSON: b64u(this.clientData('webauthn.create', options.challenge, o)), attestationObject: b64u(attestationObject), transports: ['internal'] },
      clientExtensionResults: {}
    }
  }

  /** The response to request options, signed by `credential` (the last registered by default); the counter moves on by one. */
  authenticate (options: { challenge: string }, o: Overrides & { credential?: Credential, key?: KeyObject } = {}) {
    const cred = o.credential ?? this.credentials.at(-1)!
    cred.counter = o.counter ?? cred.counter + 1
    const count = Buffer.alloc(4); count.writeUInt32BE(cred.counter)
    const authData = Buffer.concat([sha256(o.rpId ?? this.rpId), Buffer.from([this.flags(o, false)]), count])
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, o)
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), o.key ?? cred.key)
    return {
      id: b64u(cred.id),
      rawId: b64u(cred.id),
      type: 'public-key',
      response: { clientDataJSON: b64u(clientDataJSON), authenticatorData: b64u(authData), signature: b64u(signature), userHandle: b64u(cred.userHandle) },
      clientExtensionResults: {}
    }
  }
}

/** A header-mode session of the user that signed in with a passkey of `auth`. */
export async function passkeySession (app: FastifyInstance, auth: SoftAuthenticator): Promise<Client> {
  const c = new Client(app, 'header')
  const options = (await c.request('POST', '/auth/passkeys/authentication/options', { body: {} })).json()
  const res = await c.request('POST', '/auth/passkeys/authentication', { body: { response: auth.authenticate(options) } })
  if (res.statusCode !== 200) throw new Error(`passkey sign-in: ${res.statusCode} ${res.body}`)
  return c
}
