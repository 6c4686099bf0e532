// Password rules (NIST SP 800-63B): a length in characters, any Unicode
// (normalized, so one password typed on two keyboards is one password), no
// composition rules, and the most common passwords refused.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const commonPasswords = new Set(
  readFileSync(fileURLToPath(new URL('../../data/common-passwords.txt', import.meta.url)), 'utf8')
    .split('\n').filter(Boolean).map((p) => p.toLowerCase())
)

export const PASSWORD_MIN = 8
export const PASSWORD_MAX = 256

/** NFKC so that one password typed on two keyboards is one password (SP 800-63B 5.1.1.2). */
export function normalizePassword (password: string): string {
  return password.normalize('NFKC')
}

/** Length in characters (code points), as a user counts them. */
export function passwordLength (password: string): number {
  return Array.from(password).length
}

export function isCommonPassword (password: string): boolean {
  return commonPasswords.has(normalizePassword(password).toLowerCase())
}
