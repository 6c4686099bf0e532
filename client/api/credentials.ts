// Signing up, in and out with a username and password (POST /auth/register,
// /auth/login, /auth/logout). A user with TOTP gets a second step (mfa.ts).
import { errorOf, type SendInit } from '../transport.ts'
import type { ClientSession } from '../session.ts'
import type { LoginResult, User } from '../types.ts'
import { signedInOrSecondStep } from './mfa.ts'

export async function register (s: ClientSession, username: string, password: string): Promise<User> {
  const res = await s.send('/auth/register', { method: 'POST', json: { username, password } })
  if (!res.ok) throw await errorOf(res)
  return await res.json()
}

export async function login (s: ClientSession, username: string, password: string): Promise<LoginResult> {
  return signedInOrSecondStep(s, await s.send('/auth/login', s.tokenEndpoint({ method: 'POST', json: { username, password } })))
}

export async function logout (s: ClientSession): Promise<void> {
  // Signed out here whatever the network does; the error (if any) is still thrown.
  const headers: Record<string, string> = {}
  let proof: SendInit['proof']
  const state = s.tokens
  if (state !== null) {
    headers.authorization = `${state.tokenType} ${state.accessToken}`
    if (state.tokenType === 'DPoP') proof = { accessToken: state.accessToken }
  }
  let init: SendInit = { method: 'POST', headers, proof }
  if (s.mode === 'header') {
    const token = await s.storedRefreshToken()
    if (token) init = { ...init, json: { refresh_token: token } }
  } else {
    const csrf = s.csrfToken()
    if (csrf !== null) headers['x-csrf-token'] = csrf
  }
  // A bound session's refresh credential, when one is sent, is checked with a proof that has no ath.
  if (proof !== undefined && (init.json !== undefined || headers['x-csrf-token'] !== undefined)) init.proof = 'token-endpoint'
  try {
    const res = await s.send('/auth/logout', init)
    if (!res.ok) throw await errorOf(res)
  } finally {
    await s.signOutLocally('logout', true)
  }
}
