// Every error the API answers with, by its stable code (docs/api.md).
import createError from '@fastify/error'

export const ValidationError = createError('VALIDATION', '%s', 400)
export const PasswordTooCommonError = createError('PASSWORD_TOO_COMMON', 'This password is too common; choose another', 400)
export const UsernameTakenError = createError('USERNAME_TAKEN', 'That username is taken', 409)
export const InvalidCredentialsError = createError('INVALID_CREDENTIALS', 'Invalid username or password', 401)
export const InvalidRefreshTokenError = createError('INVALID_REFRESH_TOKEN', 'The refresh token is invalid or expired', 401)
export const RefreshTokenReusedError = createError('REFRESH_TOKEN_REUSED', 'The refresh token was already used; the session has been ended', 401)
export const CsrfInvalidError = createError('CSRF_INVALID', 'Missing or invalid CSRF token', 403)
export const TokenMissingError = createError('TOKEN_MISSING', 'An access token is required', 401)
export const TokenInvalidError = createError('TOKEN_INVALID', 'The access token is invalid', 401)
export const TokenExpiredError = createError('TOKEN_EXPIRED', 'The access token has expired', 401)
export const TokenRevokedError = createError('TOKEN_REVOKED', 'The access token has been revoked', 401)
export const ForbiddenError = createError('FORBIDDEN', 'You do not have access to this resource', 403)
export const NotFoundError = createError('NOT_FOUND', '%s', 404)
export const LastAdminError = createError('LAST_ADMIN', 'The last admin cannot lose the admin role or be disabled', 409)
export const TooManyRequestsError = createError('TOO_MANY_REQUESTS', 'Too many requests; retry later', 429)
export const KeysNotManagedError = createError('KEYS_NOT_MANAGED', 'Signing keys are static (JWT_PRIVATE_KEY or JWT_SECRET): rotate them by changing the configuration', 409)
export const ServiceUnavailableError = createError('SERVICE_UNAVAILABLE', 'A backing service is unavailable; retry shortly', 503)

/** Errors whose 401 answers a request that expected a bearer token (RFC 6750). */
export const bearerErrors: Record<string, string> = {
  TOKEN_MISSING: 'Bearer realm="auth"',
  TOKEN_INVALID: 'Bearer realm="auth", error="invalid_token"',
  TOKEN_EXPIRED: 'Bearer realm="auth", error="invalid_token", error_description="expired"',
  TOKEN_REVOKED: 'Bearer realm="auth", error="invalid_token", error_description="revoked"'
}

// Sender-constrained sessions (DPoP, RFC 9449).
export const DpopProofInvalidError = createError('DPOP_PROOF_INVALID', 'The DPoP proof is missing or invalid: %s', 401)
/** The proof lacks the server's current nonce: at a token endpoint (400, RFC 9449 section 8) or a resource (401, section 9). */
export const UseDpopNonceError = createError('USE_DPOP_NONCE', 'Retry with the nonce the DPoP-Nonce header carries', 400)
export const UseDpopNonceResourceError = createError('USE_DPOP_NONCE', 'Retry with the nonce the DPoP-Nonce header carries', 401)
const DPOP_ALGS = 'algs="ES256 EdDSA"'
/** The WWW-Authenticate challenge of a refused DPoP request. */
export const dpopErrors: Record<string, string> = {
  DPOP_PROOF_INVALID: `DPoP error="invalid_dpop_proof", ${DPOP_ALGS}`,
  USE_DPOP_NONCE: `DPoP error="use_dpop_nonce", ${DPOP_ALGS}`
}

// Passwords over an account's life, and second factors.
export const MfaRequiredError = createError('MFA_REQUIRED', 'This needs a session that used the second factor: sign in again with it', 401)
export const PasswordUnchangedError = createError('PASSWORD_UNCHANGED', 'The new password is the current one', 400)
export const InvalidResetTokenError = createError('INVALID_RESET_TOKEN', 'The reset token is invalid, spent or expired', 400)
export const MfaAlreadyEnabledError = createError('MFA_ALREADY_ENABLED', 'TOTP is already enabled; remove it first', 409)
/** A wrong code while enrolling or removing a factor (400), or in the login's second step (401). */
export const MfaCodeInvalidError = createError('MFA_CODE_INVALID', 'The code is wrong, already used or expired', 400)
export const MfaCodeRefusedError = createError('MFA_CODE_INVALID', 'The code is wrong, already used or expired', 401)
export const MfaTokenInvalidError = createError('MFA_TOKEN_INVALID', 'The mfa_token is invalid, spent or expired: log in again', 401)
/** A passkey registration that does not verify (400), or a passkey sign-in that does not (401). */
export const PasskeyInvalidError = createError('PASSKEY_INVALID', 'The passkey response does not verify', 400)
export const PasskeyRefusedError = createError('PASSKEY_INVALID', 'The passkey response does not verify', 401)
/** A sensitive change (step-up) in a session that signed in longer than REAUTH_MAX_AGE ago: POST /auth/reauthenticate first. */
export const ReauthRequiredError = createError('REAUTH_REQUIRED', 'This change needs a recent sign-in: reauthenticate, then retry', 401)
