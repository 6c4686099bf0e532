// TOTP (RFC 6238: SHA-1, 6 digits, 30 s) with ten recovery codes. The secret
// is sealed at rest (keys/sealed.ts, the user id as associated data);
// a code is accepted once only: the last step used is kept, and a code of
// that step or an earlier one is refused (RFC 6238 section 5.2). One step
// of clock drift either side is allowed.
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import * as OTPAuth from 'otpauth'
import type { MfaStore } from './store.ts'
import { MfaAlreadyEnabledError, MfaCodeInvalidError } from '../errors.ts'
import { seal, unseal } from '../keys/sealed.ts'

export const TOTP_PERIOD = 30
export const TOTP_DIGITS = 6
export const RECOVERY_CODES = 10
const DRIFT_STEPS = 1
const CODE = /^\d{6}$/
// 16 characters of Crockford-style base32 (80 bits), shown in groups of four.
const RECOVERY_ALPHABET = 'ABCDEFGHJKMNPQRSTVWXYZ0123456789'

export type CodeKind = 'otp' | 'recovery'

function recoveryCode (): string {
  const bytes = randomBytes(16)
  let out = ''
  for (let i = 0; i < 16; i++) out += RECOVERY_ALPHABET[bytes[i] & 31]
  return out.match(/.{4}/g)!.join('-')
}

/** A recovery code as typed: case, spaces and dashes do not matter. */
function normalizeRecovery (code: string): string {
  return code.toUpperCase().replace(/[\s-]/g, '')
}

const hashCode = (userId: string, code: string) => createHash('sha256').update(`${userId}\0${normalizeRecovery(code)}`).digest('base64url')

export function createTotp (deps: { store: MfaStore, key: Buffer, issuer: string }) {
  const { store, key, issuer } = deps
  const aad = (userId: string) => `totp:${userId}`

  function totpFor (secretBase32: string, label: string): OTPAuth.TOTP {
    return new OTPAuth.TOTP({ issuer, label, algorithm: 'SHA1', digits: TOTP_DIGITS, period: TOTP_PERIOD, secret: OTPAuth.Secret.fromBase32(secretBase32) })
  }

  /** The time step a code belongs to, or undefined if it matches none within the drift allowed. */
  function stepOf (secretBase32: string, code: string, now: number): number | undefined {
    if (!CODE.test(code)) return undefined
    const delta = totpFor(secretBase32, 'x').validate({ token: code, timestamp: now, window: DRIFT_STEPS })
    return delta === null ? undefined : Math.floor(now / 1000 / TOTP_PERIOD) + delta
  }

  async function factor (userId: string) {
    const row = await store.findFactor(userId)
    if (row === null) return undefined
    const secret = unseal(key, aad(userId), row.secret)
    // A secret that does not open (another KEY_ENCRYPTION_SECRET) verifies nothing.
    return { ...row, secretBase32: secret?.toString('utf8') }
  }

  return {
    /** A new pending secret (replacing a pending one); refused while one is confirmed. */
    async enroll (userId: string, username: string): Promise<{ secret: string, otpauthUri: string }> {
      const existing = await store.factorConfirmedAt(userId)
      if (existing?.confirmedAt != null) throw new MfaAlreadyEnabledError()
      const secret = new OTPAuth.Secret({ size: 20 }).base32
      const sealed = seal(key, aad(userId), Buffer.from(secret))
      // Only a pending factor is ever replaced: a confirmation that raced this wins.
      if (!await store.replacePendingFactor(userId, sealed)) {
        try {
          await store.insertFactor(userId, sealed)
        } catch {
          throw new MfaAlreadyEnabledError()
        }
      }
      return { secret, otpauthUri: totpFor(secret, username).toString() }
    },

    /** Confirms the pending secret with a code from it; returns the recovery codes (shown once). */
    async confirm (userId: string, code: string, now = Date.now()): Promise<string[]> {
      const f = await factor(userId)
      if (f?.confirmedAt != null) throw new MfaAlreadyEnabledError()
      const step = f?.secretBase32 === undefined ? undefined : stepOf(f.secretBase32, code, now)
      if (step === undefined) throw new MfaCodeInvalidError()
      const codes = Array.from({ length: RECOVERY_CODES }, recoveryCode)
      const rows = codes.map((c) => ({ id: randomUUID(), codeHash: hashCode(userId, c) }))
      if (!await store.confirmFactor(userId, step, new Date(now), rows)) throw new MfaCodeInvalidError()
      return codes
    },

    /** Whether the user has a confirmed TOTP factor. */
    async enabled (userId: string): Promise<boolean> {
      return (await store.countConfirmedFactors(userId)) === 1
    },

    /** Spends a TOTP code or a recovery code of the user's confirmed factor: what it was, or false. */
    async use (userId: string, code: string, now = Date.now()): Promise<CodeKind | false> {
      if (typeof code !== 'string' || code.length > 64) return false
      if (CODE.test(code)) {
        const f = await factor(userId)
        if (f?.confirmedAt == null || f.secretBase32 === undefined) return false
        const step = stepOf(f.secretBase32, code, now)
        // The step is taken once, on every instance: a replayed code finds it used.
        return step !== undefined && await store.claimStep(userId, step) ? 'otp' : false
      }
      return await store.spendRecoveryCode(userId, hashCode(userId, code), new Date(now)) ? 'recovery' : false
    },

    /** Removes the factor and its recovery codes. */
    async remove (userId: string): Promise<void> {
      await store.deleteFactor(userId)
    },

    /** Recovery codes left (for the user's own view). */
    async recoveryCodesLeft (userId: string): Promise<number> {
      return store.countRecoveryCodesLeft(userId)
    }
  }
}

export type Totp = ReturnType<typeof createTotp>
