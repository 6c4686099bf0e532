// The SPA example's screens as the browser tests drive them.
import type { BrowserContext, Page } from 'playwright-core'
import { GOOD_PASSWORD } from './client.ts'

/** A new tab on `url`, once the app has decided whether a session exists. */
export async function openSpa (context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage()
  await page.goto(url)
  await page.locator('#loading').waitFor({ state: 'hidden' })
  return page
}

export async function signedInView (page: Page, username: string): Promise<void> {
  await page.locator('#signed-in').waitFor({ state: 'visible' })
  await page.waitForFunction((name) => document.getElementById('protected')?.textContent === `Hello, ${name}!`, username)
}

async function submit (page: Page, form: string, username: string): Promise<void> {
  await page.locator('#loading').waitFor({ state: 'hidden' })
  await page.fill(`${form} input[name=username]`, username)
  await page.fill(`${form} input[name=password]`, GOOD_PASSWORD)
  await page.click(`${form} button[type=submit]`)
}

export async function signUp (page: Page, username: string): Promise<void> {
  await submit(page, '#sign-up', username)
  await signedInView(page, username)
}

export async function signIn (page: Page, username: string): Promise<void> {
  await submit(page, '#sign-in', username)
  await signedInView(page, username)
}

/** Waits for the signed-out screen; returns the notice it shows. */
export async function signedOutView (page: Page): Promise<string> {
  await page.locator('#signed-out').waitFor({ state: 'visible' })
  return (await page.textContent('#notice')) ?? ''
}
