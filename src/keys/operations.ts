// Rotating and revoking managed keys, and telling every instance: the admin
// API (plugins/signing-keys.ts) and the CLI share these.
import type { KeyRow } from './signing-keys.ts'
import type { KeyStore, WithKeyChange } from './store.ts'

/** Rotation and revocation with what every instance must hear of them; shared by the admin API and the CLI. */
export function createKeyOperations (store: KeyStore, revocations: { revokeKey: (kid: string, until: number) => Promise<void>, keysChanged: (kid: string) => Promise<void> }, until: (now: number) => number) {
  // A lost "changed" push only delays the others until their next re-read.
  const tell = (kid: string) => revocations.keysChanged(kid).catch(() => {})
  return {
    /** Tells every instance the key set changed (a key the schedule created). */
    announce: tell,
    /** `withIt`: what goes with it in its transaction (the security event). */
    async rotate (withIt?: WithKeyChange): Promise<KeyRow> {
      const row = await store.rotate(withIt)
      await tell(row.kid)
      return row
    },
    /** undefined: no such key. A failed push is a 503; the revocation is in the database and reaches every instance at its next re-read. */
    async revoke (kid: string, withIt?: WithKeyChange): Promise<{ revoked: KeyRow, replacement?: KeyRow } | undefined> {
      const out = await store.revoke(kid, withIt)
      if (out === undefined) return undefined
      await revocations.revokeKey(kid, until(Date.now()))
      if (out.replacement !== undefined) await tell(out.replacement.kid)
      return out
    }
  }
}
