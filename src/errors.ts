// Every error the API answers with, by its stable code (docs/api.md).
import { STATUS_CODES } from 'node:http'
import createError, { type FastifyErrorConstructor } from '@fastify/error'

const codes = new Set<string>()
/** createError that records the code: `errorCodes` is the whole registry, and the error handler answers with nothing else. */
function define (code: string, message: string, status: number): FastifyErrorConstructor {
  // One class per code: a code that means one thing is made in one place.
  if (codes.has(code)) throw new Error(`error code ${code} is defined twice`)
  codes.add(code)
  return createError(code, message, status)
}

/**
 * The same code answered 401 where the context calls for it: a sign-in
 * step or a resource (RFC 9449 section 9), where the class's own status is
 * that of an enrolment or a token endpoint (400).
 */
export function unauthorized<E extends { statusCode?: number }> (err: E): E {
  err.statusCode = 401
  return err
}
/** Every code the API can answer with. */
export const errorCodes: ReadonlySet<string> = codes

export const ValidationError = define('VALIDATION', '%s', 400)
export const PasswordTooCommonError = define('PASSWORD_TOO_COMMON', 'This password is too common; choose another', 400)
export const UsernameTakenError = define('USERNAME_TAKEN', 'That username is taken', 409)
export const InvalidCredentialsError = define('INVALID_CREDENTIALS', 'Invalid username or password', 401)
export const InvalidRefreshTokenError = define('INVALID_REFRESH_TOKEN', 'The refresh token is invalid or expired', 401)
export const RefreshTokenReusedError = define('REFRESH_TOKEN_REUSED', 'The refresh token was already used; the session has been ended', 401)
export const CsrfInvalidError = define('CSRF_INVALID', 'Missing or invalid CSRF token', 403)
export const TokenMissingError = define('TOKEN_MISSING', 'An access token is required', 401)
export const TokenInvalidError = define('TOKEN_INVALID', 'The access token is invalid', 401)
export const TokenExpiredError = define('TOKEN_EXPIRED', 'The access token has expired', 401)
export const TokenRevokedError = define('TOKEN_REVOKED', 'The access token has been revoked', 401)
export const ForbiddenError = define('FORBIDDEN', 'You do not have access to this resource', 403)
export const NotFoundError = define('NOT_FOUND', '%s', 404)
export const LastAdminError = define('LAST_ADMIN', 'The last admin cannot lose the admin role or be disabled', 409)
export const TooManyRequestsError = define('TOO_MANY_REQUESTS', 'Too many requests; retry later', 429)
export const KeysNotManagedError = define('KEYS_NOT_MANAGED', 'Signing keys are static (JWT_PRIVATE_KEY or JWT_SECRET): rotate them by changing the configuration', 409)
export const ServiceUnavailableError = define('SERVICE_UNAVAILABLE', 'A backing service is unavailable; retry shortly', 503)
export const InternalError = define('INTERNAL', 'Internal error; reference %s', 500)

// What Fastify or Node's HTTP parser refuses before any route runs, under the
// API's codes. Fixed messages: nothing of the request is echoed back.
export const BadRequestError = define('BAD_REQUEST', 'The request is malformed', 400)
export const RequestTimeoutError = define('REQUEST_TIMED_OUT', 'The request took too long to arrive', 408)
export const PayloadTooLargeError = define('PAYLOAD_TOO_LARGE', 'The request body is larger than the service accepts', 413)
export const UriTooLongError = define('URI_TOO_LONG', 'A path segment is longer than the service accepts', 414)
export const UnsupportedMediaTypeError = define('UNSUPPORTED_MEDIA_TYPE', 'The body must be JSON (Content-Type: application/json)', 415)
export const HeadersTooLargeError = define('HEADERS_TOO_LARGE', 'The request headers are larger than the service accepts', 431)

/** Fastify's own errors (FST_ERR_*), by the API error that answers them. */
export const fastifyErrors: Record<string, () => Error> = {
  FST_ERR_BAD_URL: () => new BadRequestError(),
  FST_ERR_MAX_PARAM_LENGTH: () => new UriTooLongError(),
  FST_ERR_CTP_BODY_TOO_LARGE: () => new PayloadTooLargeError(),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => new UnsupportedMediaTypeError(),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => new BadRequestError(),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new ValidationError('The body is not valid JSON'),
  FST_ERR_CTP_INVALID_JSON_BODY: () => new ValidationError('The body is not valid JSON'),
  FST_ERR_NOT_FOUND: () => new NotFoundError('Not found')
}

/** Any other refusal, by its status (Node's parser and plugins give a status, not a code of ours). */
const byStatus: Record<number, () => Error> = {
  404: () => new NotFoundError('Not found'),
  408: () => new RequestTimeoutError(),
  413: () => new PayloadTooLargeError(),
  414: () => new UriTooLongError(),
  415: () => new UnsupportedMediaTypeError(),
  429: () => new TooManyRequestsError(),
  431: () => new HeadersTooLargeError()
}

export interface ApiError { statusCode: number, code: string, message: string }

/** The one error shape every answer has: `{statusCode, error, code, message}`. */
export function errorBody (e: ApiError) {
  return { statusCode: e.statusCode, error: STATUS_CODES[e.statusCode] ?? 'Error', code: e.code, message: e.message }
}

/**
 * The API error that answers a refusal (a 4xx): ours as they are, Fastify's
 * and everyone else's mapped to a code of this file with a fixed message.
 */
export function refusalOf (err: { code?: unknown, statusCode?: number, validation?: unknown, message: string }): ApiError {
  // Schema messages name the rule and the field (`body/username must match pattern …`), never the value.
  if (err.validation !== undefined) return { statusCode: 400, code: 'VALIDATION', message: err.message }
  const code = typeof err.code === 'string' ? err.code : ''
  if (codes.has(code) && typeof err.statusCode === 'number') return { statusCode: err.statusCode, code, message: err.message }
  // The JSON parser's own SyntaxError names the character it stopped at: not echoed.
  const known = fastifyErrors[code]?.() ?? (err instanceof SyntaxError ? new ValidationError('The body is not valid JSON') : undefined) ?? byStatus[err.statusCode ?? 400]?.() ?? new BadRequestError()
  const { statusCode, code: mapped, message } = known as Error & ApiError
  return { statusCode, code: mapped, message }
}

/** Errors whose 401 answers a request that expected a bearer token (RFC 6750). */
export const bearerErrors: Record<string, string> = {
  TOKEN_MISSING: 'Bearer realm="auth"',
  TOKEN_INVALID: 'Bearer realm="auth", error="invalid_token"',
  TOKEN_EXPIRED: 'Bearer realm="auth", error="invalid_token", error_description="expired"',
  TOKEN_REVOKED: 'Bearer realm="auth", error="invalid_token", error_description="revoked"'
}

// Sender-constrained sessions (DPoP, RFC 9449).
export const DpopProofInvalidError = define('DPOP_PROOF_INVALID', 'The DPoP proof is missing or invalid: %s', 401)
/** The proof lacks the server's current nonce: at a token endpoint 400 (RFC 9449 section 8), at a resource unauthorized() (section 9). */
export const UseDpopNonceError = define('USE_DPOP_NONCE', 'Retry with the nonce the DPoP-Nonce header carries', 400)
const DPOP_ALGS = 'algs="ES256 EdDSA"'
/** The WWW-Authenticate challenge of a refused DPoP request. */
export const dpopErrors: Record<string, string> = {
  DPOP_PROOF_INVALID: `DPoP error="invalid_dpop_proof", ${DPOP_ALGS}`,
  USE_DPOP_NONCE: `DPoP error="use_dpop_nonce", ${DPOP_ALGS}`
}

// Passwords over an account's life, and second factors.
export const MfaRequiredError = define('MFA_REQUIRED', 'This needs a session that used the second factor: sign in again with it', 401)
export const PasswordUnchangedError = define('PASSWORD_UNCHANGED', 'The new password is the current one', 400)
export const InvalidResetTokenError = define('INVALID_RESET_TOKEN', 'The reset token is invalid, spent or expired', 400)
export const MfaAlreadyEnabledError = define('MFA_ALREADY_ENABLED', 'TOTP is already enabled; remove it first', 409)
/** A wrong code while enrolling or removing a factor (400), or unauthorized() in a sign-in step. */
export const MfaCodeInvalidError = define('MFA_CODE_INVALID', 'The code is wrong, already used or expired', 400)
export const MfaTokenInvalidError = define('MFA_TOKEN_INVALID', 'The mfa_token is invalid, spent or expired: log in again', 401)
/** A passkey registration that does not verify (400), or unauthorized() a passkey sign-in that does not. */
export const PasskeyInvalidError = define('PASSKEY_INVALID', 'The passkey response does not verify', 400)
/** A sensitive change (step-up) in a session that signed in longer than REAUTH_MAX_AGE ago: POST /auth/reauthenticate first. */
export const ReauthRequiredError = define('REAUTH_REQUIRED', 'This change needs a recent sign-in: reauthenticate, then retry', 401)

// Sign-in with an OpenID Connect provider. At the callback these travel as
// `#error=<code>` to the return_to page; elsewhere as the usual JSON answer.
export const ReturnToInvalidError = define('RETURN_TO_INVALID', 'return_to must be a URL on an allowed origin (OIDC_RETURN_ORIGINS)', 400)
export const OidcStateInvalidError = define('OIDC_STATE_INVALID', 'The sign-in is unknown, spent or expired, or was started in another browser: start again', 400)
export const OidcIdTokenInvalidError = define('OIDC_ID_TOKEN_INVALID', 'The provider\'s answer does not verify', 401)
export const OidcLoginCodeInvalidError = define('OIDC_LOGIN_CODE_INVALID', 'The login_code is invalid, spent or expired: sign in again', 400)
export const OidcProviderUnavailableError = define('OIDC_PROVIDER_UNAVAILABLE', 'The identity provider cannot be reached; retry shortly', 503)
export const OidcLogoutTokenInvalidError = define('OIDC_LOGOUT_TOKEN_INVALID', 'The logout token is invalid: %s', 400)
export const AccountDisabledError = define('ACCOUNT_DISABLED', 'This account is disabled', 403)
export const IdentityTakenError = define('IDENTITY_TAKEN', 'That identity signs in to another account', 409)
export const LastSignInMethodError = define('LAST_SIGN_IN_METHOD', 'This is the account\'s last way to sign in: add a password, a passkey or another identity first', 409)

// Email addresses: verification links, forgot-password, sign-in codes (src/email/).
export const InvalidEmailTokenError = define('INVALID_EMAIL_TOKEN', 'The verification link is invalid, spent or expired', 400)
export const EmailTakenError = define('EMAIL_TAKEN', 'Another account verified this address first', 409)
/** In production without SMTP_URL: the routes that send mail have nothing to send it with. */
export const EmailUnavailableError = define('EMAIL_UNAVAILABLE', 'This service sends no email (SMTP_URL is not set)', 503)
