// Passkeys (WebAuthn) with @simplewebauthn/server: several per user, each a
// way to sign in on its own (no second step). Challenges are random, one
// use (deleted as the response is checked) and live 300 s; the origin and
// RP ID are checked against WEBAUTHN_ORIGINS and WEBAUTHN_RP_ID; a signature
// counter that does not move forward is refused.
import { createHmac } from 'node:crypto'
import {
  generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse,
  type AuthenticationResponseJSON, type RegistrationResponseJSON
} from '@simplewebauthn/server'
import { LastSignInMethodError, NotFoundError, PasskeyInvalidError, unauthorized } from '../errors.ts'
import { USERNAME_PATTERN } from '../accounts/accounts.ts'
import type { MfaStore, PasskeyRow } from './store.ts'

export const CHALLENGE_TTL = 300
const NAME_MAX = 64
const usernameRe = new RegExp(USERNAME_PATTERN)
/** Bytes of a made-up credential id: as many as the authenticators seen here give (16). */
const DECOY_ID_BYTES = 16
/** The transports of a made-up credential: what a platform passkey reports. */
const DECOY_TRANSPORTS = ['internal']

export interface PasskeyView { id: string, name: string, createdAt: string, lastUsedAt: string | null }
export interface PasskeySignIn { userId: string, amr: string[] }

/** The user handle WebAuthn stores: the 16 bytes of the user's UUID. */
function userHandle (userId: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(userId.replace(/-/g, ''), 'hex'))
}

/** The challenge a response answers, read from its clientDataJSON; undefined if there is none. */
function challengeOf (clientDataJSON: unknown): string | undefined {
  if (typeof clientDataJSON !== 'string' || clientDataJSON.length > 4096) return undefined
  try {
    const c = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8'))?.challenge
    return typeof c === 'string' && c.length <= 128 ? c : undefined
  } catch {
    return undefined
  }
}

export function createPasskeys (deps: { store: MfaStore, rpId: string, rpName: string, origins: string[], hmacKey: Buffer }) {
  const { store, rpId, rpName, origins } = deps

  async function saveChallenge (challenge: string, kind: 'register' | 'auth', userId: string | null): Promise<void> {
    await store.insertChallenge(challenge, kind, userId, new Date(Date.now() + CHALLENGE_TTL * 1000))
  }

  // A sign-in challenge issued for no user (a discoverable credential) is any user's; a registration's is its user's only.
  /** Deletes the challenge if it is live and was issued for this kind (and user): true once, never again. */
  function spendChallenge (challenge: string, kind: 'register' | 'auth', userId: string): Promise<boolean> {
    return store.spendChallenge(challenge, kind, userId, kind === 'auth')
  }

  // A made-up credential for a username with no passkeys (or no account): the
  // same for every call, the id as long as a real one, with transports like a
  // real one's, so the options do not say whether the user exists.
  const decoyCredential = (username: string) => ({
    id: createHmac('sha256', deps.hmacKey).update('passkey-decoy\0').update(username.toLowerCase()).digest().subarray(0, DECOY_ID_BYTES).toString('base64url'),
    transports: DECOY_TRANSPORTS
  })

  return {
    async registrationOptions (user: { id: string, username: string }) {
      const existing = await store.credentialsOf(user.id)
      const options = await generateRegistrationOptions({
        rpName,
        rpID: rpId,
        userName: user.username,
        userID: userHandle(user.id),
        attestationType: 'none',
        timeout: CHALLENGE_TTL * 1000,
        excludeCredentials: existing.map((c) => ({ id: c.id, transports: c.transports as never })),
        // Discoverable: the passkey can sign in without a username.
        authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' }
      })
      await saveChallenge(options.challenge, 'register', user.id)
      return options
    },

    async register (userId: string, response: RegistrationResponseJSON, name: string | undefined): Promise<PasskeyView> {
      let info
      try {
        const out = await verifyRegistrationResponse({
          response,
          expectedChallenge: (challenge) => spendChallenge(challenge, 'register', userId),
          expectedOrigin: origins,
          expectedRPID: rpId,
          requireUserVerification: false
        })
        if (!out.verified) throw new PasskeyInvalidError()
        info = out.registrationInfo
      } catch {
        throw new PasskeyInvalidError()
      }
      const label = (name ?? '').trim().slice(0, NAME_MAX) || `Passkey ${new Date().toISOString().slice(0, 10)}`
      try {
        const row = await store.insertPasskey({
          id: info.credential.id,
          userId,
          name: label,
          publicKey: Buffer.from(info.credential.publicKey),
          counter: BigInt(info.credential.counter),
          transports: (info.credential.transports ?? []).slice(0, 8),
          deviceType: info.credentialDeviceType,
          backedUp: info.credentialBackedUp
        })
        return view(row)
      } catch {
        throw new PasskeyInvalidError() // this credential is registered already
      }
    },

    async list (userId: string): Promise<PasskeyView[]> {
      const rows = await store.listPasskeys(userId)
      return rows.map(view)
    },

    async rename (userId: string, id: string, name: string): Promise<PasskeyView> {
      const label = name.trim().slice(0, NAME_MAX)
      if (!await store.renamePasskey(userId, id, label)) throw new NotFoundError('No such passkey')
      return view(await store.getPasskey(id))
    },

    async remove (userId: string, id: string): Promise<void> {
      const result = await store.deletePasskey(userId, id)
      if (result === 'unknown') throw new NotFoundError('No such passkey')
      if (result === 'last') throw new LastSignInMethodError()
    },

    /** Request options: the named user's credentials, or none (a discoverable credential picks the user). */
    async authenticationOptions (username: string | undefined) {
      let allow: Array<{ id: string, transports?: string[] }> | undefined
      let userId: string | null = null
      if (username !== undefined) {
        // A name no account can have is an unknown user, looked up nowhere.
        const user = usernameRe.test(username)
          ? await store.credentialsOfUsername(username.toLowerCase())
          : null
        userId = user?.id ?? null
        allow = user !== null && user.passkeys.length > 0
          ? user.passkeys.map((c) => ({ id: c.id, transports: c.transports }))
          : [decoyCredential(username)]
      }
      const options = await generateAuthenticationOptions({ rpID: rpId, allowCredentials: allow as never, userVerification: 'preferred', timeout: CHALLENGE_TTL * 1000 })
      await saveChallenge(options.challenge, 'auth', userId)
      return options
    },

    /**
     * The user a passkey response signs in, and how (amr), or PASSKEY_INVALID
     * (401). `userId`: only a passkey of that user will do (a reauthentication).
     */
    async authenticate (response: AuthenticationResponseJSON, userId?: string): Promise<PasskeySignIn> {
      if (typeof response?.id !== 'string' || !isCredentialId(response.id) || challengeOf(response.response?.clientDataJSON) === undefined) throw unauthorized(new PasskeyInvalidError())
      const row = await store.findPasskey(response.id)
      // Another user's passkey is refused before its signature or challenge is looked at: nothing of theirs is spent.
      if (row === null || (userId !== undefined && row.userId !== userId)) throw unauthorized(new PasskeyInvalidError())
      // A discoverable response names its user: it must be the credential's.
      const handle = response.response.userHandle
      if (typeof handle === 'string' && handle !== '' && handle !== Buffer.from(userHandle(row.userId)).toString('base64url')) throw unauthorized(new PasskeyInvalidError())
      let info
      try {
        const out = await verifyAuthenticationResponse({
          response,
          expectedChallenge: (challenge) => spendChallenge(challenge, 'auth', row.userId),
          expectedOrigin: origins,
          expectedRPID: rpId,
          credential: { id: row.id, publicKey: new Uint8Array(row.publicKey), counter: Number(row.counter), transports: row.transports as never },
          requireUserVerification: false
        })
        if (!out.verified) throw unauthorized(new PasskeyInvalidError())
        info = out.authenticationInfo
      } catch {
        throw unauthorized(new PasskeyInvalidError())
      }
      // The counter moves forward once: a concurrent use of the same signature loses here.
      if (!await store.advanceCounter(row.id, BigInt(info.newCounter))) throw unauthorized(new PasskeyInvalidError())
      // RFC 8176: hwk for a key bound to one device, swk for a synced one; "user" when the authenticator verified the user.
      const amr = [info.credentialDeviceType === 'singleDevice' ? 'hwk' : 'swk', ...(info.userVerified ? ['user'] : [])]
      return { userId: row.userId, amr }
    },

    /** How many passkeys the user has (for the user's own view). */
    async count (userId: string): Promise<number> {
      return store.countPasskeys(userId)
    },

    async prune (now = Date.now()): Promise<number> {
      return store.pruneChallenges(new Date(now))
    }
  }
}

function view (row: Pick<PasskeyRow, 'id' | 'name' | 'createdAt' | 'lastUsedAt'>): PasskeyView {
  return { id: row.id, name: row.name, createdAt: row.createdAt.toISOString(), lastUsedAt: row.lastUsedAt?.toISOString() ?? null }
}

export type Passkeys = ReturnType<typeof createPasskeys>

/** An id safe to look a passkey up by (base64url, bounded). */
export const isCredentialId = (id: string) => /^[A-Za-z0-9_-]{1,1024}$/.test(id)
