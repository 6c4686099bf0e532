// COPY … FROM STDIN through the pg driver, for seeding millions of rows in
// seconds (bench/scale-seed.ts). pg has no COPY stream of its own; a query
// object with `submit` is handed the connection, and answering the server's
// CopyInResponse with CopyData messages is all COPY needs. Rows are lines of
// PostgreSQL's text format, made by a generator, sent in chunks of ~1 MB with
// the socket's back-pressure respected.
import { EventEmitter } from 'node:events'
import type pg from 'pg'

interface Connection {
  query: (text: string) => void
  sendCopyFromChunk: (chunk: Buffer) => void
  endCopyFrom: () => void
  sendCopyFail: (msg: string) => void
  stream: NodeJS.WritableStream & { writableNeedDrain?: boolean }
}

class CopyIn extends EventEmitter {
  rowCount = 0
  private error: Error | undefined
  callback?: (err: Error | null, result?: unknown) => void
  readonly text: string
  private readonly lines: Iterable<string>
  private readonly done: (err: Error | undefined, rows: number) => void
  constructor (text: string, lines: Iterable<string>, done: (err: Error | undefined, rows: number) => void) {
    super()
    this.text = text
    this.lines = lines
    this.done = done
  }

  submit (connection: Connection) { connection.query(this.text) }

  handleCopyInResponse (connection: Connection) {
    this.pump(connection).catch((err: Error) => connection.sendCopyFail(err.message))
  }

  private async pump (connection: Connection) {
    let chunk: string[] = []
    let size = 0
    for (const line of this.lines) {
      chunk.push(line)
      size += line.length
      if (size >= 1 << 20) {
        connection.sendCopyFromChunk(Buffer.from(chunk.join('')))
        chunk = []
        size = 0
        if (connection.stream.writableNeedDrain === true) await new Promise((resolve) => connection.stream.once('drain', resolve))
      }
    }
    if (chunk.length > 0) connection.sendCopyFromChunk(Buffer.from(chunk.join('')))
    connection.endCopyFrom()
  }

  handleCommandComplete (msg: { text: string }) { this.rowCount = Number(/(\d+)$/.exec(msg.text)?.[1] ?? 0) }
  handleError (err: Error) { this.error = err }
  handleReadyForQuery () { this.done(this.error, this.rowCount) }
  handleRowDescription () {}
  handleDataRow () {}
  handleEmptyQuery () {}
  handlePortalSuspended () {}
  handleCopyData () {}
}

/** Runs `COPY <target> FROM STDIN` with `lines` (text format, each ending in a newline); the rows copied. */
export function copyFrom (client: pg.Client | pg.PoolClient, target: string, lines: Iterable<string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const copy = new CopyIn(`COPY ${target} FROM STDIN`, lines, (err, rows) => err !== undefined ? reject(err) : resolve(rows))
    client.query(copy as unknown as pg.QueryConfig)
  })
}
