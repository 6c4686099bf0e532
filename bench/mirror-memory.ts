// How much memory the revocation mirror takes per revoked session:
// node --expose-gc bench/mirror-memory.ts [count]
import { randomUUID } from 'node:crypto'
import { createRevocationList, createMemoryBackend } from '../src/revocation/mirror.ts'

const n = Number(process.argv[2] ?? 1_000_000)
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with node --expose-gc')
const list = createRevocationList({ backend: createMemoryBackend(), loadDurable: async () => [] })
await list.start()
const ids = Array.from({ length: n }, () => randomUUID()) // the ids arrive as strings from Redis or PostgreSQL anyway
gc()
const before = process.memoryUsage().heapUsed
const until = Date.now() + 3_600_000
for (const id of ids) await list.revokeSession(id, until)
gc()
const after = process.memoryUsage().heapUsed
const perEntry = (after - before) / n
console.log(JSON.stringify({ entries: list.size().sessions, bytesPerEntry: Math.round(perEntry), plusIdString: 56, totalMbFor1M: Math.round((perEntry + 56) * 1e6 / 1048576) }))
await list.close()
