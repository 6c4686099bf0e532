// TOTP (RFC 6238: SHA-1, 6 digits, 30 s) with ten recovery codes. The secret
// is sealed at rest (services/sealed.ts, the user id as associated data);
// a code is accepted once only: the last step used is kept, and a code of
// that step or an earlier one is refused (RFC 6238 section 5.2). One step
// of clock drift either side is allowed.
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import * as OTPAuth from 'otpauth'
import type { PrismaClient } from '../generated/prisma/client.ts'
import { MfaAlreadyEnabledError, MfaCodeInvalidError } from '../errors.ts'
import { seal, unseal } from '../services/sealed.ts'

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

export function createTotp (deps: { prisma: PrismaClient, key: Buffer, issuer: string }) {
  const { prisma, key, issuer } = deps
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
    const row = await prisma.totpFactor.findUnique({ where: { userId } })
    if (row === null) return undefined
    const secret = unseal(key, aad(userId), row.secret)
    // A secret that does not open (another KEY_ENCRYPTION_SECRET) verifies nothing.
    return { ...row, secretBase32: secret?.toString('utf8') }
  }

  /** Takes `step` as used if it is later than every step used before: one use per code, on every instance. */
  async function claimStep (userId: string, step: number): Promise<boolean> {
    const { count } = await prisma.totpFactor.updateMany({ where: { userId, lastStep: { lt: step }, confirmedAt: { not: null } }, data: { lastStep: step } })
    return count === 1
  }

  return {
    /** A new pending secret (replacing a pending one); refused while one is confirmed. */
    async enroll (userId: string, username: string): Promise<{ secret: string, otpauthUri: string }> {
      const existing = await prisma.totpFactor.findUnique({ where: { userId }, select: { confirmedAt: true } })
      if (existing?.confirmedAt != null) throw new MfaAlreadyEnabledError()
      const secret = new OTPAuth.Secret({ size: 20 }).base32
      const sealed = seal(key, aad(userId), Buffer.from(secret))
      // Only a pending factor is ever replaced: a confirmation that raced this wins.
      const { count } = await prisma.totpFactor.updateMany({ where: { userId, confirmedAt: null }, data: { secret: sealed, lastStep: 0, createdAt: new Date() } })
      if (count === 0) {
        try {
          await prisma.totpFactor.create({ data: { userId, secret: sealed } })
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
      const confirmed = await prisma.$transaction(async (tx) => {
        const { count } = await tx.totpFactor.updateMany({ where: { userId, confirmedAt: null, lastStep: { lt: step } }, data: { lastStep: step, confirmedAt: new Date(now) } })
        if (count !== 1) return false
        await tx.recoveryCode.deleteMany({ where: { userId } })
        await tx.recoveryCode.createMany({ data: codes.map((c) => ({ id: randomUUID(), userId, codeHash: hashCode(userId, c) })) })
        return true
      })
      if (!confirmed) throw new MfaCodeInvalidError()
      return codes
    },

    /** Whether the user has a confirmed TOTP factor. */
    async enabled (userId: string): Promise<boolean> {
      return (await prisma.totpFactor.count({ where: { userId, confirmedAt: { not: null } } })) === 1
    },

    /** Spends a TOTP code or a recovery code of the user's confirmed factor: what it was, or false. */
    async use (userId: string, code: string, now = Date.now()): Promise<CodeKind | false> {
      if (typeof code !== 'string' || code.length > 64) return false
      if (CODE.test(code)) {
        const f = await factor(userId)
        if (f?.confirmedAt == null || f.secretBase32 === undefined) return false
        const step = stepOf(f.secretBase32, code, now)
        return step !== undefined && await claimStep(userId, step) ? 'otp' : false
      }
      const { count } = await prisma.recoveryCode.updateMany({ where: { userId, codeHash: hashCode(userId, code), usedAt: null }, data: { usedAt: new Date(now) } })
      return count === 1 ? 'recovery' : false
    },

    /** Removes the factor and its recovery codes. */
    async remove (userId: string): Promise<void> {
      await prisma.$transaction([
        prisma.recoveryCode.deleteMany({ where: { userId } }),
        prisma.totpFactor.deleteMany({ where: { userId } })
      ])
    },

    /** Recovery codes left (for the user's own view). */
    async recoveryCodesLeft (userId: string): Promise<number> {
      return prisma.recoveryCode.count({ where: { userId, usedAt: null } })
    }
  }
}

export type Totp = ReturnType<typeof createTotp>
