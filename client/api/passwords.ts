// Changing a password (signed in, POST /auth/password) and resetting one
// with a token an admin issued (signed out, POST /auth/password/reset).
import { errorOf } from '../transport.ts'
import type { ClientSession } from '../session.ts'
import { json, jsonBody } from '../calls.ts'

/** Every other session ends; this one stays. */
export function changePassword (s: ClientSession, currentPassword: string, newPassword: string): Promise<void> {
  return json<void>(s, '/auth/password', jsonBody('POST', { current_password: currentPassword, new_password: newPassword }))
}

export async function resetPassword (s: ClientSession, resetToken: string, newPassword: string): Promise<void> {
  const res = await s.send('/auth/password/reset', { method: 'POST', json: { reset_token: resetToken, new_password: newPassword } })
  if (!res.ok) throw await errorOf(res)
}
