// What the session store keeps: the list shows only sessions that can still
// refresh (at most SESSION_LIST_MAX), and pruning deletes what no check needs
// anymore, on a timer, without changing any answer.
import t from 'tap'
import { buildApp, backends } from '../helpers/app.ts'
import { Client, uniqueName, signedIn, GOOD_PASSWORD } from '../helpers/client.ts'
import { eventually } from '../helpers/servers.ts'
import { SESSION_LIST_MAX } from '../../src/sessions/sessions.ts'
import { revocationHorizon } from '../../src/revocation/mirror.ts'

const DAY = 86_400_000

for (const backend of backends) {
  t.test(`${backend} backend`, async (t) => {
    const { app } = await buildApp(t, { backend })

    t.test('the session list leaves out sessions that can no longer refresh, and is bounded', async (t) => {
      const c = new Client(app, 'header')
      const name = uniqueName('Lister')
      await c.register(name, GOOD_PASSWORD)
      const idle = new Client(app, 'header')
      await idle.login(name, GOOD_PASSWORD)
      await c.login(name, GOOD_PASSWORD)
      const me = (await c.me()).json().id
      t.equal((await c.request('GET', '/auth/sessions')).json().length, 2)
      // The idle session's refresh token expires (REFRESH_TOKEN_TTL without a refresh).
      const idleSid = JSON.parse(Buffer.from(idle.accessToken!.split('.')[1], 'base64url').toString()).sid
      await app.prisma.refreshToken.updateMany({ where: { sessionId: idleSid }, data: { expiresAt: new Date(Date.now() - 1000) } })
      t.equal((await idle.refresh()).json().code, 'INVALID_REFRESH_TOKEN', 'that session cannot refresh')
      const listed = (await c.request('GET', '/auth/sessions')).json()
      t.same(listed.map((s: { id: string }) => s.id), [JSON.parse(Buffer.from(c.accessToken!.split('.')[1], 'base64url').toString()).sid], 'so it is not listed')

      for (let i = 0; i < SESSION_LIST_MAX + 5; i++) await new Client(app, 'header').login(name, GOOD_PASSWORD)
      const many = await c.request('GET', '/auth/sessions')
      t.equal(many.json().length, SESSION_LIST_MAX, `at most ${SESSION_LIST_MAX} sessions are listed`)
      t.equal(await app.prisma.session.count({ where: { userId: me, revokedAt: null } }), SESSION_LIST_MAX + 7, 'though all of them exist')
    })

    t.test('pruning deletes expired tokens and sessions past the revocation horizon, and changes no answer', async (t) => {
      const { c, name } = await signedIn(app, 'Pruned')
      for (let i = 0; i < 5; i++) t.equal((await c.refresh()).statusCode, 200)
      const sid = JSON.parse(Buffer.from(c.accessToken!.split('.')[1], 'base64url').toString()).sid
      const old = new Client(app, 'header')
      await old.login(name, GOOD_PASSWORD)
      const oldSid = JSON.parse(Buffer.from(old.accessToken!.split('.')[1], 'base64url').toString()).sid
      const ended = new Client(app, 'header')
      await ended.login(name, GOOD_PASSWORD)
      const endedSid = JSON.parse(Buffer.from(ended.accessToken!.split('.')[1], 'base64url').toString()).sid
      t.equal((await ended.logout()).statusCode, 204)

      // Six tokens in the live session; five of them spent. Make the spent ones
      // expired, and age the other session past the horizon.
      const spent = await app.prisma.refreshToken.findMany({ where: { sessionId: sid, usedAt: { not: null } } })
      t.equal(spent.length, 5)
      await app.prisma.refreshToken.updateMany({ where: { id: { in: spent.map((s) => s.id) } }, data: { expiresAt: new Date(Date.now() - 1000) } })
      const ancient = new Date(revocationHorizon().getTime() - DAY)
      await app.prisma.session.update({ where: { id: oldSid }, data: { revokedAt: ancient, expiresAt: ancient } })

      const pruned = await app.sessions.prune()
      t.ok(pruned.tokens >= 5, `expired tokens deleted (${pruned.tokens})`)
      t.ok(pruned.sessions >= 1, `old sessions deleted (${pruned.sessions})`)
      t.equal(await app.prisma.refreshToken.count({ where: { sessionId: sid } }), 1, 'the live session keeps its one live token')
      t.equal(await app.prisma.session.count({ where: { id: oldSid } }), 0, 'the session past the horizon is gone, with its tokens')
      t.equal(await app.prisma.session.count({ where: { id: endedSid } }), 1, 'a session ended just now is kept: its revocation still matters')
      t.equal((await c.refresh()).statusCode, 200, 'the live session still refreshes')
      t.equal((await c.me()).statusCode, 200)
      t.equal((await ended.me()).json().code, 'TOKEN_REVOKED', 'the recently ended one is still refused')
      const expiredReplay = new Client(app, 'header')
      expiredReplay.refreshToken = old.refreshToken
      t.equal((await expiredReplay.refresh()).json().code, 'INVALID_REFRESH_TOKEN', 'a pruned token is refused as an expired one was')
    })
  })
}

t.test('pruning runs on its own, every PRUNE_INTERVAL', async (t) => {
  const { app } = await buildApp(t, { backend: 'real', env: { PRUNE_INTERVAL: '1' } })
  const { c } = await signedIn(app, 'Timer')
  await c.refresh()
  await app.prisma.refreshToken.updateMany({ where: { usedAt: { not: null } }, data: { expiresAt: new Date(Date.now() - 1000) } })
  t.ok(await eventually(async () => await app.prisma.refreshToken.count({ where: { usedAt: { not: null } } }) === 0, 5000, 100), 'the spent, expired token is deleted without being asked')
  t.equal((await c.refresh()).statusCode, 200)
})
