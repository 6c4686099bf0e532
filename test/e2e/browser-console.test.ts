// The admin console (/admin/console/) in Debian's Chromium, served by the real
// service started here: an admin signs in, finds a user, changes a role, ends
// a session, issues a reset token, rotates a key and filters events, each
// confirmed in a dialog and shown at once; a non-admin sees only a refusal.
// A screenshot of each page goes into docs/screenshots/.
import t from 'tap'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { launchChromium, startService } from '../helpers/e2e.ts'
import { uniqueName, GOOD_PASSWORD } from '../helpers/client.ts'

const ADMIN = { username: 'console-chief', password: 'the console chief passphrase' }
const SHOTS = join(process.cwd(), 'docs', 'screenshots')
mkdirSync(SHOTS, { recursive: true })
const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `console-${name}.png`), fullPage: true })

const service = await startService(t, { ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password })
const browser = await launchChromium(t)
const consoleUrl = `${service.base}/admin/console/`

async function api (path: string, init: { method?: string, body?: unknown, token?: string, ua?: string } = {}) {
  const res = await fetch(`${service.base}${path}`, {
    method: init.method ?? 'GET',
    headers: { 'x-auth-mode': 'header', 'user-agent': init.ua ?? 'ConsoleTest', ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...(init.token !== undefined ? { authorization: `Bearer ${init.token}` } : {}) },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {})
  })
  return { status: res.status, body: res.status === 204 ? undefined : await res.json() }
}

/** A user with one session on a "phone". */
async function memberWithSession () {
  const name = uniqueName('member')
  t.equal((await api('/auth/register', { method: 'POST', body: { username: name, password: GOOD_PASSWORD } })).status, 201)
  const login = await api('/auth/login', { method: 'POST', body: { username: name, password: GOOD_PASSWORD }, ua: 'PhoneApp/2.1' })
  return { name, token: login.body.access_token as string, refresh: login.body.refresh_token as string, id: login.body.user.id as string }
}

async function signIn (page: Page, username: string, password: string): Promise<void> {
  await page.goto(consoleUrl)
  await page.locator('#sign-in').waitFor({ state: 'visible' })
  await page.getByLabel('Username').fill(username)
  await page.getByLabel('Password').fill(password)
  // The keyboard: Enter in the form submits it.
  await page.getByLabel('Password').press('Enter')
}

/** Presses the button, checks the question, confirms with the keyboard. */
async function confirmWith (page: Page, question: RegExp): Promise<void> {
  const dialog = page.locator('#confirm')
  await dialog.waitFor({ state: 'visible' })
  t.match(await page.locator('#confirm-text').textContent(), question)
  t.equal(await page.evaluate(() => document.activeElement?.id), 'confirm-cancel', 'focus starts on Cancel: Enter alone never confirms')
  await page.keyboard.press('Tab')
  t.equal(await page.evaluate(() => document.activeElement?.id), 'confirm-ok')
  await page.keyboard.press('Enter')
  await dialog.waitFor({ state: 'hidden' })
}

t.test('the console is served under a strict CSP, no inline script', async (t) => {
  const res = await fetch(consoleUrl)
  t.equal(res.status, 200)
  const csp = res.headers.get('content-security-policy') ?? ''
  t.match(csp, /default-src 'self'/)
  t.match(csp, /script-src 'self'(;|$)/)
  t.match(csp, /style-src 'self'(;|$)/)
  t.match(csp, /frame-ancestors 'none'/)
  const html = await res.text()
  t.notMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'every script is a file')
  t.notMatch(html, /\sstyle=|<style/, 'no inline style')
  t.equal((await fetch(`${service.base}/admin/console/modules/src/config.ts`)).status, 404, 'only the console\'s and the client library\'s modules')
  t.equal((await fetch(`${service.base}/admin/console/modules/admin-console/app.ts`)).headers.get('content-type'), 'text/javascript; charset=utf-8')
})

t.test('an admin runs the console end to end', async (t) => {
  const member = await memberWithSession()
  const context = await browser.newContext()
  const page = await context.newPage()
  const violations: string[] = []
  page.on('console', (msg) => { if (/Content Security Policy|Refused to/.test(msg.text())) violations.push(msg.text()) })
  page.on('pageerror', (err) => violations.push(err.message))

  await signIn(page, ADMIN.username, ADMIN.password)
  await page.locator('#nav').waitFor({ state: 'visible' })
  t.equal(await page.locator('#who-name').textContent(), `Signed in as ${ADMIN.username}`)

  // Find the user, with the keyboard.
  await page.getByLabel('Username or user id').fill(member.name.slice(0, -2))
  await page.getByLabel('Username or user id').press('Enter')
  const open = page.getByRole('button', { name: `Open ${member.name}` })
  await open.waitFor()
  await shot(page, 'users')
  await open.focus()
  await page.keyboard.press('Enter')
  await page.locator('#user-title', { hasText: member.name }).waitFor()
  t.equal(await page.locator('#user-sessions tbody tr').count(), 1, 'their one session is listed')
  t.match(await page.locator('#user-sessions').textContent(), /PhoneApp\/2\.1/)
  await shot(page, 'user')

  // Change a role: asked first, shown at once.
  await page.getByRole('checkbox', { name: 'admin' }).first().check()
  await page.getByRole('button', { name: 'Save roles' }).click()
  await shot(page, 'confirm')
  await confirmWith(page, new RegExp(`Change ${member.name}'s roles`))
  await page.locator('#status', { hasText: 'Roles changed' }).waitFor()
  await page.locator('#user-detail .tag', { hasText: /^admin$/ }).waitFor()
  t.same((await api(`/admin/users/search?q=${member.id}`, { token: await adminToken() })).body[0].roles, ['admin', 'user'], 'the service holds the new roles')

  // A cancelled action changes nothing.
  await page.getByRole('button', { name: /^End session/ }).click()
  await page.keyboard.press('Escape')
  await page.locator('#status', { hasText: 'Cancelled' }).waitFor()
  t.equal(await page.locator('#user-sessions tbody tr').count(), 1)

  // End the session.
  await page.getByRole('button', { name: /^End session/ }).click()
  await confirmWith(page, /End this session/)
  await page.locator('#status', { hasText: 'Session ended' }).waitFor()
  await page.getByText('No session can refresh.').waitFor()
  t.equal((await api('/auth/refresh', { method: 'POST', body: { refresh_token: member.refresh } })).body.code, 'INVALID_REFRESH_TOKEN', 'the ended session cannot refresh')

  // Issue a reset token; the user sets a password with it.
  await page.getByRole('button', { name: 'Issue a password reset token' }).click()
  await confirmWith(page, /Issue a reset token/)
  const token = await page.locator('#reset-token-value').inputValue()
  t.match(token, /^[A-Za-z0-9_-]{40,}$/)
  t.equal((await api('/auth/password/reset', { method: 'POST', body: { reset_token: token, new_password: 'the reset passphrase' } })).status, 204, 'the token works')

  // Rotate a key.
  await page.getByRole('button', { name: 'Signing keys' }).click()
  await page.locator('#keys').waitFor()
  const before = await page.locator('#keys tbody tr').count()
  await shot(page, 'keys')
  await page.getByRole('button', { name: 'Rotate now' }).click()
  await confirmWith(page, /Publish the next signing key/)
  await page.locator('#status', { hasText: 'Key rotated' }).waitFor()
  t.equal(await page.locator('#keys tbody tr').count(), before + 1, 'the new key is listed at once')

  // Filter events.
  await page.getByRole('button', { name: 'Events' }).click()
  await page.locator('#event-list table').waitFor()
  await page.getByLabel('Type').fill('roles_changed')
  await page.getByRole('button', { name: 'Filter' }).click()
  await page.locator('#status', { hasText: /^1 event$/ }).waitFor()
  const rows = page.locator('#event-list tbody tr')
  t.equal(await rows.count(), 1)
  t.match(await rows.first().textContent(), new RegExp(`roles_changed${member.id}`))
  await shot(page, 'events')

  t.same(violations, [], 'no CSP violation, no page error')
  await context.close()
})

t.test('a non-admin who signs in sees only a refusal', async (t) => {
  const name = uniqueName('plain')
  await api('/auth/register', { method: 'POST', body: { username: name, password: GOOD_PASSWORD } })
  const context = await browser.newContext()
  const page = await context.newPage()
  await signIn(page, name, GOOD_PASSWORD)
  await page.locator('#refused').waitFor({ state: 'visible' })
  t.equal(await page.locator('#nav').isHidden(), true, 'no pages offered')
  t.equal(await page.locator('#page').textContent(), '')
  await shot(page, 'refused')
  await context.close()
})

async function adminToken (): Promise<string> {
  return (await api('/auth/login', { method: 'POST', body: ADMIN })).body.access_token
}
