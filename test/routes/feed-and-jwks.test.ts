// Two read-only routes other services poll, read the way HTTP says: the
// revocation feed takes its bearer under any case of the scheme (RFC 7235
// section 2.1), and the key set answers 304 to If-None-Match by weak
// comparison (RFC 9110 section 13.1.2).
import t from 'tap'
import { buildApp } from '../helpers/app.ts'

const FEED = 'feed-and-jwks-feed-token-0123456789abcdef'

t.test('the revocation feed takes its bearer under any case of the scheme', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded', env: { REVOCATION_FEED_TOKEN: FEED } })
  const feed = (authorization?: string) => app.inject({ url: '/auth/revocations?since=0', headers: authorization === undefined ? {} : { authorization } })
  for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
    t.equal((await feed(`${scheme} ${FEED}`)).statusCode, 200, `${scheme} ${'<token>'}`)
  }
  for (const [what, header] of [['a wrong token', 'bearer wrong'], ['the token under another scheme', `Basic ${FEED}`], ['the token alone', FEED], ['a longer token', `Bearer ${FEED}x`], ['a shorter token', `Bearer ${FEED.slice(0, -1)}`], ['the token twice', `Bearer ${FEED} ${FEED}`]]) {
    const res = await feed(header)
    t.equal(res.statusCode, 401, what)
    t.equal(res.json().code, 'TOKEN_INVALID', what)
  }
  t.equal((await feed()).json().code, 'TOKEN_MISSING')
})

t.test('the key set: If-None-Match by weak comparison', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded' })
  const first = await app.inject('/.well-known/jwks.json')
  const etag = first.headers.etag as string
  t.match(etag, /^"[^"]+"$/, 'a strong ETag')
  const get = (ifNoneMatch: string) => app.inject({ url: '/.well-known/jwks.json', headers: { 'if-none-match': ifNoneMatch } })
  for (const [what, header] of [['the ETag', etag], ['its weak form', `W/${etag}`], ['a list holding it', `"other", ${etag}`], ['a list holding its weak form', `W/"other",W/${etag}`], ['*', '*']]) {
    const res = await get(header)
    t.equal(res.statusCode, 304, what)
    t.equal(res.body, '', `${what}: no body`)
    t.equal(res.headers.etag, etag, `${what}: the ETag again`)
  }
  for (const [what, header] of [['another tag', '"other"'], ['its weak form of another', 'W/"other"'], ['the opaque part unquoted', etag.slice(1, -1)], ['a prefix of it', `${etag.slice(0, -2)}"`]]) {
    const res = await get(header)
    t.equal(res.statusCode, 200, what)
    t.same(res.json(), first.json(), `${what}: the key set`)
  }
})
