// JSON schemas of the /auth routes: validation, fast serialization, and the
// OpenAPI document from one source.
import { USERNAME_PATTERN } from '../../accounts/accounts.ts'

export const ErrorSchema = {
  $id: 'Error',
  type: 'object',
  properties: {
    statusCode: { type: 'integer' },
    error: { type: 'string' },
    code: { type: 'string' },
    message: { type: 'string' }
  },
  required: ['statusCode', 'error', 'code', 'message']
} as const

export const UserSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    username: { type: 'string' },
    roles: { type: 'array', items: { type: 'string' } }
  },
  required: ['id', 'username', 'roles']
} as const

export const CredentialsSchema = {
  type: 'object',
  properties: {
    username: { type: 'string', pattern: USERNAME_PATTERN },
    // Exact length rules (code points after NFKC) are checked in the service.
    password: { type: 'string', minLength: 1, maxLength: 1024 }
  },
  required: ['username', 'password'],
  additionalProperties: false
} as const

export const LoginCredentialsSchema = {
  ...CredentialsSchema,
  // Any string: a malformed username is simply an unknown user (same 401, same time).
  properties: { ...CredentialsSchema.properties, username: { type: 'string', maxLength: 256 } }
} as const

export const TokenResponseSchema = {
  type: 'object',
  properties: {
    access_token: { type: 'string' },
    token_type: { type: 'string', enum: ['Bearer', 'DPoP'], description: 'DPoP when the session is bound to a DPoP key: send the access token as Authorization: DPoP, with a proof' },
    expires_in: { type: 'integer' },
    refresh_token: { type: 'string', description: 'header mode only' },
    refresh_expires_in: { type: 'integer' },
    csrf_token: { type: 'string', description: 'cookie mode only: the value of the csrf_token cookie, for a SPA on another site that cannot read it' },
    user: UserSchema
  },
  required: ['access_token', 'token_type', 'expires_in', 'user']
} as const

/** A password login of a user with TOTP: no session yet, a second step. */
export const MfaRequiredSchema = {
  type: 'object',
  properties: {
    mfa_required: { type: 'boolean', enum: [true] },
    mfa_token: { type: 'string' },
    expires_in: { type: 'integer' },
    methods: { type: 'array', items: { type: 'string' } }
  },
  required: ['mfa_required', 'mfa_token', 'expires_in', 'methods']
} as const

export const NewPasswordSchema = { type: 'string', minLength: 1, maxLength: 1024 } as const

/**
 * Text that is stored and shown (a passkey's name): no control characters.
 * PostgreSQL refuses a NUL in text outright (a 500 otherwise), and the others
 * have no place in a label a person reads.
 */
export const NO_CONTROL_CHARS = '^[^\\u0000-\\u001f\\u007f]*$'

/** A TOTP code or a recovery code: printable, short. */
export const CodeSchema = { type: 'string', minLength: 1, maxLength: 64, pattern: NO_CONTROL_CHARS } as const

export const RefreshBodySchema = {
  type: ['object', 'null'],
  properties: { refresh_token: { type: 'string', maxLength: 4096 } },
  additionalProperties: false
} as const

export const AuthModeHeaders = {
  type: 'object',
  properties: {
    'x-auth-mode': { type: 'string', enum: ['cookie', 'header'], description: 'cookie (default, browser SPAs) or header (mobile and server clients)' }
  }
} as const

export const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, { $ref: 'Error#' }]))

/** Route descriptions for the OpenAPI document: cookies and the stable error codes. */
export const docs = {
  cookies: 'Cookie mode (default, X-Auth-Mode: cookie) sets `refresh_token` (HttpOnly; Path=/auth; SameSite=Strict by default; Secure; Max-Age = refresh lifetime) and `csrf_token` (readable by scripts; Path=/); the refresh token is never in the body. Header mode (X-Auth-Mode: header) sets no cookie and returns `refresh_token` and `refresh_expires_in` in the body.',
  csrf: 'Cookie mode: send the `refresh_token` cookie and the header X-CSRF-Token equal to the `csrf_token` cookie, else 403 CSRF_INVALID and nothing changes. Header mode: send `{ "refresh_token": "…" }` in the body.',
  bearer: 'Authorization: Bearer <access_token>, or for a DPoP-bound session `Authorization: DPoP <access_token>` with a `DPoP` proof carrying `ath` (a bound token as Bearer: 401 TOKEN_INVALID). 401 codes: TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED, TOKEN_REVOKED, DPOP_PROOF_INVALID, USE_DPOP_NONCE (with WWW-Authenticate); 503 SERVICE_UNAVAILABLE while revocations or proof replays cannot be checked.',
  stepUp: 'Step-up: a user with a second factor (TOTP or a passkey) must have used one in this session (amr otp, hwk or swk), else 401 MFA_REQUIRED; the session must have signed in within REAUTH_MAX_AGE seconds, else 401 REAUTH_REQUIRED. Both are answered by POST /auth/reauthenticate.',
  dpop: 'An optional `DPoP` proof header (RFC 9449; ES256 or EdDSA) binds the session it opens to the proof\'s key for life: token_type DPoP, access tokens with cnf.jkt, and every refresh needs a fresh proof by that key (401 DPOP_PROOF_INVALID otherwise). With DPOP_NONCE=on a proof without the current nonce gets 400 USE_DPOP_NONCE and the nonce in DPoP-Nonce; with DPOP_REQUIRED=header a header-mode login without a proof gets 401 DPOP_PROOF_INVALID.'
}
