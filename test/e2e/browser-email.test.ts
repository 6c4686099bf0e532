// Forgot-password in the SPA example, in Debian's Chromium, with a real SMTP
// server in this process: "Forgot password?" on the sign-in card, the mailed
// link (EMAIL_LINK_BASE is the SPA) opens "Set a new password", and the new
// password signs in. Needs the SPA wiring of examples/spa/email.ts
// (setUpEmailSignIn in app.ts, the client's email methods).
import t from 'tap'
import { startSpa } from '../../examples/spa/server.ts'
import { launchChromium, screenshotPath, startService } from '../helpers/e2e.ts'
import { freePort } from '../helpers/servers.ts'
import { GOOD_PASSWORD, uniqueName } from '../helpers/client.ts'
import { smtpSink, linkToken } from '../helpers/smtp.ts'
import { openSpa } from '../helpers/spa-page.ts'

const sink = await smtpSink(t)
const spaPort = await freePort()
const spaOrigin = `http://localhost:${spaPort}`
const service = await startService(t, { CORS_ORIGINS: spaOrigin, SMTP_URL: sink.url, EMAIL_LINK_BASE: `${spaOrigin}/`, MAIL_POLL_INTERVAL: '1' })
const apiBase = `http://localhost:${service.port}`
const spa = await startSpa({ authBaseUrl: apiBase, port: spaPort })
t.teardown(spa.close)
const browser = await launchChromium(t)

async function mailTo (address: string, n: number) {
  const deadline = Date.now() + 20_000
  while (sink.to(address).length < n) {
    if (Date.now() > deadline) throw new Error(`no mail ${n} to ${address}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return sink.to(address)[n - 1]
}

t.test('forgot my password: from the SPA to the mailed link to a new password and a sign-in', async (t) => {
  const username = uniqueName('forgot')
  const email = `${username.replace(/_/g, '.')}@mail.example.test`
  const post = (path: string, body: object) => fetch(`${apiBase}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  t.equal((await post('/auth/register', { username, password: GOOD_PASSWORD, email })).status, 201)
  t.equal((await post('/auth/email/verify', { token: linkToken(await mailTo(email, 1), 'verify') })).status, 204, 'the address is verified')

  const context = await browser.newContext()
  t.teardown(() => context.close())
  const page = await openSpa(context, spaOrigin)
  await page.click('#forgot-password')
  await page.fill('#forgot-form input[name=who]', email)
  await page.click('#forgot-form button[type=submit]')
  await page.waitForFunction(() => /on its way/.test(document.getElementById('notice')?.textContent ?? ''))
  await page.screenshot({ path: screenshotPath('email-forgot-sent') })

  const mail = await mailTo(email, 2)
  t.equal(mail.subject, 'Reset your password')
  const link = /https?:\/\/\S+#reset=[A-Za-z0-9_-]+/.exec(mail.text ?? '')?.[0]
  t.match(link, `${spaOrigin}/#reset=`, 'the link opens the SPA')
  const next = 'a fresh passphrase from the mail'
  const resetPage = await context.newPage()
  await resetPage.goto(link!)
  await resetPage.locator('#reset').waitFor({ state: 'visible' })
  await resetPage.fill('#reset-form input[name=password]', next)
  await resetPage.click('#reset-form button[type=submit]')
  await resetPage.waitForFunction(() => /new password is set/.test(document.getElementById('notice')?.textContent ?? ''))
  t.equal(new URL(resetPage.url()).hash, '', 'the token is gone from the address bar')

  await resetPage.fill('#sign-in input[name=username]', username)
  await resetPage.fill('#sign-in input[name=password]', next)
  await resetPage.click('#sign-in button[type=submit]')
  await resetPage.locator('#signed-in').waitFor({ state: 'visible' })
  await resetPage.screenshot({ path: screenshotPath('email-reset-signed-in') })
  t.pass('signed in with the new password')
  t.equal((await post('/auth/login', { username, password: GOOD_PASSWORD })).status, 401, 'the old password is gone')
})
