// Requests and bytes of importing one database twice into the same S3 store (the second time
// every segment is already stored), counted by the conditional-write proxy of the local test
// server (fauxqs, in this process). Prints a table and, with JSON=<path>, writes the figures.
// Run: node --conditions=source --import tsx test/bench/measure-reimport.ts [MiB]
import { subscribe } from 'node:diagnostics_channel'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { Repository } from '@strata/core'
import { S3Store } from '@strata/s3'
import { createTestBucket, localTarget, startTestS3, type ProxiedRequest } from '@strata/s3/testing'

const MiB = 1024 * 1024

// Every byte the store's sockets to the S3 endpoint wrote (request lines, headers and bodies),
// whatever the server did with them: the upload cost, including bodies sent to a server that had
// already refused them. (The proxy's own connections to fauxqs are not counted.)
let endpointPort = ''
const clientSockets = new Set<Socket>()
let closedSocketBytes = 0
subscribe('net.client.socket', (message) => {
  const socket = (message as { socket: Socket }).socket
  socket.once('connect', () => {
    if (String(socket.remotePort) !== endpointPort) return
    clientSockets.add(socket)
    socket.once('close', () => {
      closedSocketBytes += socket.bytesWritten
      clientSockets.delete(socket)
    })
  })
})
const clientBytesWritten = (): number => closedSocketBytes + [...clientSockets].reduce((n, s) => n + s.bytesWritten, 0)
const size = Number(process.argv[2] ?? 50)

interface Tally {
  requests: Record<string, number>
  /** Body bytes the server read, per request kind. */
  bodyBytes: Record<string, number>
  /** Content-Length of every PUT: what the client set out to send (it sends bodies without waiting for 100 Continue). */
  putContentLength: number
  /** Bytes the client's sockets wrote during the import. */
  clientBytes: number
}

function tally(requests: readonly ProxiedRequest[]): Tally {
  const t: Tally = { requests: {}, bodyBytes: {}, putContentLength: 0, clientBytes: 0 }
  for (const r of requests) {
    const kind = `${r.method} ${r.url.includes('list-type=') ? '(list)' : `${r.url.split('/')[3] ?? ''}/`} ${r.status ?? 'cut'}`
    t.requests[kind] = (t.requests[kind] ?? 0) + 1
    t.bodyBytes[kind] = (t.bodyBytes[kind] ?? 0) + r.bodyBytes
    if (r.method === 'PUT') t.putContentLength += Number(r.headers['content-length'] ?? 0)
  }
  return t
}

const dir = await mkdtemp(join(tmpdir(), 'strata-measure-reimport-'))
const s3 = await startTestS3()
endpointPort = new URL(s3.endpoint).port
try {
  const file = join(dir, 'app.db')
  const db = new Database(file)
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)')
  const insert = db.prepare('INSERT INTO t (b) VALUES (randomblob(4000))')
  db.transaction(() => {
    for (let i = 0; i < (size * MiB) / 4096; i++) insert.run()
  })()
  db.close()

  await createTestBucket(s3.endpoint, 'measure')
  const store = S3Store.fromUrl('s3://measure/db', localTarget(s3.endpoint).options)
  const repo = await Repository.init(store)
  const results: Record<string, Tally & { import: unknown }> = {}
  for (const label of ['first import', 'same file again']) {
    s3.proxy.clearLog()
    const sentBefore = clientBytesWritten()
    const result = await repo.importDatabase(file, { branch: label.replaceAll(' ', '-') })
    results[label] = { import: result, ...tally(s3.proxy.requests), clientBytes: clientBytesWritten() - sentBefore }
    const t = results[label]!
    console.log(`${label}: ${JSON.stringify(result)}`)
    for (const [kind, n] of Object.entries(t.requests).sort()) {
      console.log(`  ${kind.padEnd(24)} ${String(n).padStart(4)} requests ${(t.bodyBytes[kind]! / MiB).toFixed(2).padStart(8)} MiB of body read`)
    }
    console.log(`  PUT Content-Length total: ${(t.putContentLength / MiB).toFixed(2)} MiB; the client's sockets wrote ${(t.clientBytes / MiB).toFixed(2)} MiB`)
  }
  await store.close()
  if (process.env['JSON']) await writeFile(process.env['JSON'], JSON.stringify({ sizeMiB: size, results }, null, 2))
} finally {
  await s3.stop()
  await rm(dir, { recursive: true, force: true })
}
