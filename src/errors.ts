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
