import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { statSync } from 'node:fs'
import { copyFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Repository } from '@strata/core'
import { S3Store } from '@strata/s3'
import { createTestBucket, localTarget, s3TestEnv, startTestS3, type ProxiedRequest, type TestS3 } from '@strata/s3/testing'
import { BIN, assertBuilt } from '../cli/helpers.js'
import { waitForExit, type WorkerExit } from './support/run-node.js'

// SIGKILL the `strata` CLI while it writes to S3 (fauxqs behind the conditional-write proxy, a
// server of this test's own so it can watch every request and inject faults), then check that
// the store is whole and that writing the same content again succeeds: the segments it meets
// are already stored, which is exactly when an upload used to fail with EPIPE.

const BUCKET = 'cli-crash'
let s3: TestS3
let work: string
let env: NodeJS.ProcessEnv

beforeAll(async () => {
  assertBuilt()
  s3 = await startTestS3()
  await createTestBucket(s3.endpoint, BUCKET)
  work = await mkdtemp(join(tmpdir(), 'strata-s3-cli-crash-'))
  env = { ...process.env, ...s3TestEnv(localTarget(s3.endpoint)), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }
  delete env['STRATA_STORE']
  delete env['STRATA_DEBUG']
})
afterAll(async () => {
  await s3?.stop()
  if (work) await rm(work, { recursive: true, force: true })
})

const url = (prefix: string): string => `s3://${BUCKET}/${prefix}`
const openStore = (prefix: string): S3Store => S3Store.fromUrl(url(prefix), localTarget(s3.endpoint).options)

/** Run the built CLI on the test store; `killAt` SIGKILLs it when a request of its store matches. */
async function cli(
  args: readonly string[],
  killAt?: { prefix: string; matches: (request: ProxiedRequest, event: 'arrived' | 'answered') => boolean },
): Promise<WorkerExit & { killedAt?: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let killedAt: string | undefined
  const stop = killAt
    ? s3.proxy.onRequest((request, event) => {
        if (killedAt !== undefined || !request.url.startsWith(`/${BUCKET}/${killAt.prefix}/`) || !killAt.matches(request, event)) return
        killedAt = `${event === 'arrived' ? 'during' : 'after'} ${request.method} ${request.url.slice(BUCKET.length + killAt.prefix.length + 3).split('/')[0]}/`
        child.kill('SIGKILL')
      })
    : undefined
  try {
    const exit = await waitForExit(child)
    return killedAt === undefined ? exit : { ...exit, killedAt }
  } finally {
    stop?.()
  }
}

/** The rows of table `t`, hashed: equal databases (by content) have equal digests. */
function digest(path: string): string {
  const db = new Database(path, { readonly: true })
  try {
    return createHash('sha256').update(JSON.stringify(db.prepare('SELECT * FROM t ORDER BY id').all())).digest('hex')
  } finally {
    db.close()
  }
}

function makeDatabase(path: string, rows: number, blobBytes: number): void {
  const db = new Database(path)
  db.pragma('journal_mode = DELETE')
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL, b BLOB)')
  const insert = db.prepare('INSERT INTO t (v, b) VALUES (?, randomblob(?))')
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(`row ${i}`, blobBytes)
  })()
  db.close()
}

const tally = (xs: readonly string[]): string =>
  Object.entries(xs.reduce<Record<string, number>>((m, x) => ((m[x] = (m[x] ?? 0) + 1), m), {}))
    .map(([k, n]) => `${k} ×${n}`)
    .join(', ')

describe('SIGKILL `strata sql` mid-commit on S3', () => {
  // 5 stores side by side, 10 trials each: 50 writers killed, five at a time.
  const SLOTS = 5
  const PER_SLOT = 10
  // Where a commit writes: its segment, its manifest, then the ref's compare-and-swap.
  const POINTS: { key: string; event: 'arrived' | 'answered' }[] = [
    { key: 'segments/', event: 'arrived' },
    { key: 'segments/', event: 'answered' },
    { key: 'snapshots/', event: 'arrived' },
    { key: 'refs/', event: 'arrived' },
    { key: 'refs/', event: 'answered' },
  ]
  const sql = (j: number): string => `UPDATE t SET v = v || ' +${j}' WHERE id % 13 = ${j}; INSERT INTO t (v) VALUES ('trial ${j}')`

  it('every kill leaves a verified store, the branch reads as before or after, and it deletes and re-imports', { timeout: 600_000 }, async () => {
    const base = join(work, 'base.db')
    makeDatabase(base, 400, 200)
    const before = digest(base)
    const after: string[] = []
    for (let j = 0; j < PER_SLOT; j++) {
      const copy = join(work, `after-${j}.db`)
      await appliedCopy(base, copy, sql(j))
      after.push(digest(copy))
    }

    const outcomes: string[] = []
    const states: string[] = []
    await Promise.all(
      Array.from({ length: SLOTS }, async (_, slot) => {
        const prefix = `slot-${slot}`
        const store = openStore(prefix)
        try {
          const repo = await Repository.init(store)
          await repo.importDatabase(base)
          for (let j = 0; j < PER_SLOT; j++) await repo.createBranch(`t${j}`, { from: 'main' })
          for (let j = 0; j < PER_SLOT; j++) {
            const branch = `t${j}`
            const point = POINTS[(slot + j) % POINTS.length]!
            const run = await cli(['sql', branch, sql(j), '--store', url(prefix), '--cache-dir', join(work, prefix, branch), '-q'], {
              prefix,
              matches: (r, event) => event === point.event && r.method === 'PUT' && r.url.startsWith(`/${BUCKET}/${prefix}/${point.key}`),
            })
            if (run.signal !== 'SIGKILL') throw new Error(`${prefix} ${branch}: the writer was not killed (exit ${run.code}):\n${run.stderr}`)
            outcomes.push(run.killedAt ?? '?')

            const check = await Repository.open(store)
            const verified = await check.verify()
            expect(verified.problems).toEqual([])
            const exported = join(work, prefix, `${branch}.db`)
            await check.export(branch, exported)
            const state = digest(exported)
            expect([before, after[j]]).toContain(state)
            states.push(state === before ? 'before' : 'after')

            await check.deleteBranch(branch)
            const reimported = await check.importDatabase(exported, { branch })
            // The state before the commit is main's pages, packed as main's import packed them: all stored.
            if (state === before) expect(reimported.segmentsAlreadyStored).toBe(reimported.segments)
          }
          expect((await (await Repository.open(store)).verify()).ok).toBe(true)
        } finally {
          await store.close()
        }
      }),
    )
    expect(outcomes).toHaveLength(SLOTS * PER_SLOT)
    console.log(`[reliability] S3 strata sql: ${outcomes.length} writers SIGKILLed. Landed: ${tally(outcomes)}. State: ${tally(states)}.`)
  })
})

describe('import the same database again and again through the CLI on S3, with writers SIGKILLed between rounds', () => {
  it('every import succeeds, early closes injected at random, and after the first it uploads no segment bytes', { timeout: 600_000 }, async () => {
    const ROUNDS = 20
    let seed = 7
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    let earlyCloses = 0
    const prefix = 'loop'
    const file = join(work, 'loop.db')
    makeDatabase(file, 2600, 4000) // about 11 MB: three 4 MiB segments
    const init = await cli(['init', '--store', url(prefix), '-q'])
    expect(init.stderr).toBe('')

    const rounds: { segmentPuts: number; segmentKeys: number; segmentBytes: number; otherBytes: number; stored: number; reused: number }[] = []
    const kills: string[] = []
    for (let round = 0; round < ROUNDS; round++) {
      // A writer importing the same file is killed at its 1st to 3rd segment request (a HEAD, or
      // in the first round possibly an upload), as it arrives or once it was answered.
      const event = round % 2 === 0 ? 'arrived' : 'answered'
      let seen = 0
      const nth = 1 + (round % 3)
      const killed = await cli(['import', file, '--branch', `killed-${round}`, '--store', url(prefix), '-q'], {
        prefix,
        matches: (r, e) => e === event && (r.method === 'PUT' || r.method === 'HEAD') && r.url.includes(`/${prefix}/segments/`) && ++seen === nth,
      })
      if (killed.signal !== 'SIGKILL') throw new Error(`round ${round}: the writer was not killed (exit ${killed.code}):\n${killed.stderr}`)
      kills.push(killed.killedAt ?? '?')

      s3.proxy.clearLog()
      s3.proxy.clearFaults()
      // The proxy answers some of this import's PUTs with 412 and closes while the body arrives.
      for (let i = 0; i < 3; i++) {
        if (random() < 0.6) {
          s3.proxy.injectFault({ closeEarly: true }, { method: 'PUT', times: 1 })
          earlyCloses++
        }
      }
      const run = await cli(['import', file, '--branch', `round-${round}`, '--store', url(prefix), '--json'])
      s3.proxy.clearFaults()
      expect(run.code, run.stderr).toBe(0)
      const result = JSON.parse(run.stdout) as { segments: number; segmentsAlreadyStored: number }
      const puts = s3.proxy.requests.filter((r) => r.method === 'PUT' && r.url.startsWith(`/${BUCKET}/${prefix}/`))
      const segmentPuts = puts.filter((r) => r.url.includes('/segments/'))
      rounds.push({
        segmentPuts: segmentPuts.length,
        // An early close makes the client send a segment again: count each key once.
        segmentKeys: new Set(segmentPuts.map((r) => r.url)).size,
        segmentBytes: segmentPuts.reduce((n, r) => n + r.bodyBytes, 0),
        otherBytes: puts.filter((r) => !r.url.includes('/segments/')).reduce((n, r) => n + r.bodyBytes, 0),
        stored: result.segments,
        reused: result.segmentsAlreadyStored,
      })
      const deleted = await cli(['branch', 'delete', `round-${round}`, '--store', url(prefix), '-q'])
      expect(deleted.code, deleted.stderr).toBe(0)
    }
    const verify = await cli(['verify', '--store', url(prefix), '--json'])
    expect(verify.code, verify.stderr).toBe(0)
    // After the first complete import every segment is stored: later imports upload only their manifest and records.
    expect(rounds[0]!.segmentKeys + rounds[0]!.reused).toBe(rounds[0]!.stored)
    for (const r of rounds.slice(1)) {
      expect(r.segmentPuts).toBe(0)
      expect(r.segmentBytes).toBe(0)
      expect(r.reused).toBe(r.stored)
      expect(r.otherBytes).toBeGreaterThan(0)
      // The manifest (about 27 bytes per page) and two small records: under 2% of the file.
      expect(r.otherBytes).toBeLessThan(statSync(file).size / 50)
    }
    console.log(`[reliability] S3 import loop: ${ROUNDS} rounds, ${earlyCloses} early closes injected, writers killed ${tally(kills)}; first import ${JSON.stringify(rounds[0])}, later ones e.g. ${JSON.stringify(rounds[1])}.`)
  })
})

// Apply `statements` to a copy of `from`: the state a finished commit must produce.
async function appliedCopy(from: string, to: string, statements: string): Promise<void> {
  await copyFile(from, to)
  const db = new Database(to)
  db.exec(statements)
  db.close()
}
