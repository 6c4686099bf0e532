// Signing keys as the decorator `keys`: the keyring tokens are signed and
// verified with, the session secret, and (managed keys) rotation and
// emergency revocation. Every instance re-reads the keys on a timer and at
// once when another instance says they changed (the revocation channel), and
// makes sure a next key is published before the current one is due.
import fp from 'fastify-plugin'
import type { Config } from '../config.ts'
import { NotFoundError, KeysNotManagedError } from '../errors.ts'
import type { KeyView } from '../keys/signing-keys.ts'
import { createKeyOperations } from '../keys/operations.ts'
import type { WithKeyChange } from '../keys/store.ts'
import { managedKeyring, staticKeyring, type Keyring } from '../keys/keyring.ts'
import { managedKeyStore, serviceSecrets, staticKey } from '../keys/secrets.ts'
import { revocationUntil } from '../revocation/mirror.ts'

export default fp(async function signingKeysPlugin (app, opts: { config: Config }) {
  const { config } = opts
  const fixed = staticKey(config)
  let keyring: Keyring
  let rotate: (withIt?: WithKeyChange) => Promise<KeyView>
  let revoke: (kid: string, withIt?: WithKeyChange) => Promise<{ revoked: KeyView, replacement?: KeyView }>
  let kekSecret: string | undefined

  if (fixed !== undefined) {
    keyring = staticKeyring(fixed.material, fixed.jwk)
    rotate = revoke = async () => { throw new KeysNotManagedError() }
  } else {
    const { store, kek, kekSecret: secret, generated, retireAfterMs } = managedKeyStore(config, app.prisma)
    kekSecret = secret
    if (generated) app.log.warn('KEY_ENCRYPTION_SECRET is not set: signing keys are encrypted with a secret generated into DATA_DIR (development only; every instance needs the same one)')
    await store.ensure()
    const ring = await managedKeyring(store, kek, { retireAfterMs })
    keyring = ring
    const view = (kid: string) => ring.list().find((k) => k.kid === kid)!
    const ops = createKeyOperations(store, app.revocations, revocationUntil)

    // Another instance rotated or revoked: re-read now.
    app.revocations.onKeyEvent(() => { ring.reload().catch((err) => app.log.warn({ err: { message: err.message } }, 'signing keys could not be re-read')) })
    const reader = setInterval(() => { ring.reload().catch(() => {}) }, config.revocationPollInterval * 1000)
    // Due rotations: checked often enough that the next key is published JWKS_MAX_AGE before it signs.
    const dueEvery = Math.max(1000, Math.min(60_000, config.jwksMaxAge * 250, config.keyRotationInterval * 250))
    const rotator = setInterval(() => {
      store.ensure().then(async (created) => {
        if (created.length === 0) return
        await ring.reload()
        for (const k of created) {
          app.log.info({ kid: k.kid, signsFrom: k.signsFrom }, 'signing key created')
          await ops.announce(k.kid)
        }
      }).catch((err) => app.log.warn({ err: { message: err.message } }, 'key rotation check failed; retried'))
    }, dueEvery)
    reader.unref()
    rotator.unref()
    app.addHook('onClose', async () => { clearInterval(reader); clearInterval(rotator) })

    rotate = async (withIt) => {
      const row = await ops.rotate(withIt)
      await ring.reload()
      return view(row.kid)
    }
    revoke = async (kid, withIt) => {
      // Refused here before the answer (the mirror applies it first), on every other instance through the channel.
      const out = await ops.revoke(kid, withIt)
      if (out === undefined) throw new NotFoundError('No such signing key')
      await ring.reload()
      return { revoked: view(kid), replacement: out.replacement === undefined ? undefined : view(out.replacement.kid) }
    }
  }

  const secrets = serviceSecrets(config, fixed, kekSecret)
  if (secrets.fromSigningKey) app.log.warn('SESSION_SECRET is not set: CSRF values and refresh-token successors are derived from the static signing key, so changing that key ends cookie sessions')
  app.decorate('keys', { keyring, sessionSecret: secrets.sessionSecret, factorKey: secrets.factorKey, rotate, revoke })
}, { name: 'signing-keys', dependencies: ['db', 'revocation-list'] })

declare module 'fastify' {
  interface FastifyInstance {
    keys: {
      keyring: Keyring
      sessionSecret: Buffer
      /** Seals TOTP secrets at rest (keys/secrets.ts factorKey). */
      factorKey: Buffer
      /** `withIt`: what goes with the change in its transaction (its security event). */
      rotate: (withIt?: WithKeyChange) => Promise<KeyView>
      revoke: (kid: string, withIt?: WithKeyChange) => Promise<{ revoked: KeyView, replacement?: KeyView }>
    }
  }
}
