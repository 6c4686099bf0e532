// The AuthClient createAuthClient returns: one session (session.ts) and a
// method per endpoint wrapper (api/), each handed that session.
import { ClientSession } from './session.ts'
import { authFetch } from './calls.ts'
import { login, logout, register } from './api/credentials.ts'
import { confirmTotp, disableTotp, enrollTotp, mfaStatus } from './api/mfa.ts'
import { deletePasskey, passkeys, registerPasskey, renamePasskey, signInWithPasskey } from './api/passkeys.ts'
import { changePassword, resetPassword } from './api/passwords.ts'
import { changeEmail, forgotPassword, loginWithEmailCode, requestLoginCode, verifyEmail } from './api/email.ts'
import { events, type AccountEvent } from './api/events.ts'
import { endSession, logoutAll, me, sessions } from './api/sessions.ts'
import { reauthenticate, reauthenticateWithPasskey } from './api/step-up.ts'
import { completeOidc, exchangeOidcLoginCode, identities, linkIdentity, oidcProviders, signInWithIdToken, startOidc, unlinkIdentity } from './api/oidc.ts'
import type { AuthClient, AuthClientOptions, AuthEvents, LinkedIdentity, Listener, LoginResult, MfaStatus, OidcOutcome, OidcProvider, Passkey, Session, StartOidcOptions, User } from './types.ts'

export class Client implements AuthClient {
  private session: ClientSession

  constructor (options: AuthClientOptions) {
    // Step-up (onReauthRequired) proves the user with this client's own reauthenticate methods.
    this.session = new ClientSession(options, (proof) => 'passkey' in proof ? this.reauthenticateWithPasskey(proof.username) : this.reauthenticate(proof))
  }

  get user (): User | null { return this.session.user }
  get signedIn (): boolean { return this.session.signedIn }
  on<K extends keyof AuthEvents> (event: K, listener: Listener<K>): () => void { return this.session.events.on(event, listener) }
  close (): void { this.session.close() }
  restore (): Promise<User | null> { return this.session.restore() }
  authFetch (path: string, init: RequestInit = {}): Promise<Response> { return authFetch(this.session, path, init) }

  register (username: string, password: string): Promise<User> { return register(this.session, username, password) }
  login (username: string, password: string): Promise<LoginResult> { return login(this.session, username, password) }
  logout (): Promise<void> { return logout(this.session) }
  logoutAll (): Promise<void> { return logoutAll(this.session) }
  reauthenticate (credentials: { password: string, code?: string }): Promise<User> { return reauthenticate(this.session, credentials) }
  reauthenticateWithPasskey (username?: string): Promise<User> { return reauthenticateWithPasskey(this.session, username) }
  changePassword (currentPassword: string, newPassword: string): Promise<void> { return changePassword(this.session, currentPassword, newPassword) }
  resetPassword (resetToken: string, newPassword: string): Promise<void> { return resetPassword(this.session, resetToken, newPassword) }

  verifyEmail (token: string): Promise<void> { return verifyEmail(this.session, token) }
  changeEmail (email: string): Promise<void> { return changeEmail(this.session, email) }
  forgotPassword (by: { email: string } | { username: string }): Promise<void> { return forgotPassword(this.session, by) }
  requestLoginCode (email: string): Promise<void> { return requestLoginCode(this.session, email) }
  loginWithEmailCode (email: string, code: string): Promise<LoginResult> { return loginWithEmailCode(this.session, email, code) }

  mfaStatus (): Promise<MfaStatus> { return mfaStatus(this.session) }
  enrollTotp (): Promise<{ secret: string, otpauthUri: string }> { return enrollTotp(this.session) }
  confirmTotp (code: string): Promise<string[]> { return confirmTotp(this.session, code) }
  disableTotp (code: string): Promise<void> { return disableTotp(this.session, code) }

  signInWithPasskey (username?: string): Promise<User> { return signInWithPasskey(this.session, username) }
  registerPasskey (name?: string): Promise<Passkey> { return registerPasskey(this.session, name) }
  passkeys (): Promise<Passkey[]> { return passkeys(this.session) }
  renamePasskey (id: string, name: string): Promise<Passkey> { return renamePasskey(this.session, id, name) }
  deletePasskey (id: string): Promise<void> { return deletePasskey(this.session, id) }

  oidcProviders (): Promise<OidcProvider[]> { return oidcProviders(this.session) }
  startOidc (name: string, options?: StartOidcOptions): Promise<string> { return startOidc(this.session, name, options) }
  completeOidc (url?: string): Promise<OidcOutcome> { return completeOidc(this.session, url) }
  exchangeOidcLoginCode (loginCode: string, codeVerifier?: string): Promise<LoginResult> { return exchangeOidcLoginCode(this.session, loginCode, codeVerifier) }
  signInWithIdToken (name: string, idToken: string, nonce?: string): Promise<LoginResult> { return signInWithIdToken(this.session, name, idToken, nonce) }
  linkIdentity (name: string, returnTo?: string, options?: { navigate?: boolean }): Promise<string> { return linkIdentity(this.session, name, returnTo, options) }
  identities (): Promise<LinkedIdentity[]> { return identities(this.session) }
  unlinkIdentity (id: string): Promise<void> { return unlinkIdentity(this.session, id) }

  me (): Promise<User> { return me(this.session) }
  sessions (): Promise<Session[]> { return sessions(this.session) }
  events (): Promise<AccountEvent[]> { return events(this.session) }
  endSession (id: string): Promise<void> { return endSession(this.session, id) }
}
