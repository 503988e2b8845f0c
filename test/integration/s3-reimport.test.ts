import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Repository } from '@strata/core'
import { S3Store } from '@strata/s3'
import { createTestBucket, localTarget, startTestS3, type ProxiedRequest, type TestS3 } from '@strata/s3/testing'

// Importing a database whose segments are already stored must succeed and upload no segment
// bytes, whatever the provider does to create-only PUTs: here, on a test server of this file's
// own, the proxy answers random PUTs early (412 when the key exists) and closes the connection
// while the body is still arriving.

let s3: TestS3
let dir: string
let store: S3Store
beforeAll(async () => {
  s3 = await startTestS3()
  await createTestBucket(s3.endpoint, 'reimport')
  dir = await mkdtemp(join(tmpdir(), 'strata-s3-reimport-'))
  store = S3Store.fromUrl('s3://reimport/db', { ...localTarget(s3.endpoint).options, retryBaseDelayMs: 1, retryMaxDelayMs: 10 })
})
afterAll(async () => {
  await store?.close()
  await s3?.stop()
  await rm(dir, { recursive: true, force: true })
})

const family = (r: ProxiedRequest): string => r.url.split('/')[3] ?? ''

describe('re-importing a database on S3', () => {
  it('imports the same file under 20 fresh names with early closes injected; only the first uploads segments', async () => {
    const file = join(dir, 'app.db')
    const db = new Database(file)
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)')
    const insert = db.prepare('INSERT INTO t (b) VALUES (randomblob(?))')
    db.transaction(() => {
      for (let i = 0; i < 400; i++) insert.run(3000)
    })()
    db.close()

    const repo = await Repository.init(store, { segmentBytes: 128 * 1024 })
    const rounds: { segments: number; reused: number; segmentPuts: number; segmentBytes: number; otherBytes: number; earlyCloses: number }[] = []
    let seed = 21
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    for (let round = 0; round < 20; round++) {
      s3.proxy.clearLog()
      s3.proxy.clearFaults()
      // Early closes on about a third of this round's PUTs, whichever keys they write.
      for (let i = 0; i < 4; i++) if (random() < 0.8) s3.proxy.injectFault({ closeEarly: true }, { method: 'PUT', times: 1 })
      const result = await repo.importDatabase(file, { branch: `copy-${round}` })
      const puts = s3.proxy.requests.filter((r) => r.method === 'PUT')
      const segmentPuts = puts.filter((r) => family(r) === 'segments')
      rounds.push({
        segments: result.segments,
        reused: result.segmentsAlreadyStored,
        segmentPuts: segmentPuts.length,
        segmentBytes: segmentPuts.reduce((n, r) => n + r.bodyBytes, 0),
        otherBytes: puts.filter((r) => family(r) !== 'segments').reduce((n, r) => n + r.bodyBytes, 0),
        earlyCloses: puts.filter((r) => r.fault !== undefined).length,
      })
      const out = join(dir, `copy-${round}.db`)
      await repo.export(`copy-${round}`, out)
      const check = new Database(out, { readonly: true })
      expect(check.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 400 })
      check.close()
    }
    expect(rounds[0]!.segments).toBeGreaterThan(8)
    expect(rounds[0]!.reused).toBe(0)
    expect(rounds[0]!.segmentBytes).toBeGreaterThanOrEqual(400 * 3000)
    for (const r of rounds.slice(1)) {
      expect(r).toMatchObject({ reused: r.segments, segmentPuts: 0, segmentBytes: 0 })
      expect(r.otherBytes).toBeLessThan(32 * 1024)
    }
    expect(rounds.reduce((n, r) => n + r.earlyCloses, 0)).toBeGreaterThan(20)
    expect((await repo.verify({ deep: true })).problems).toEqual([])
  })
})
