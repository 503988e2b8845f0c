import { join } from 'node:path'
import pLimit from 'p-limit'
import { LocalStore, Repository, type ObjectStore } from '@strata/core'
import { S3Store } from '@strata/s3'
import { createTestBucket, localTarget, startTestS3 } from '@strata/s3/testing'
import type { BenchContext } from '../lib/context.js'
import { median, ms, row, settle, sideBySide, timeMs, type BenchRow } from '../lib/measure.js'

/** Branches in the big store (`STRATA_BENCH_SCALE_BRANCHES`, default 10,000). */
const BRANCHES = Number(process.env.STRATA_BENCH_SCALE_BRANCHES ?? 10_000)
/** The round trip the S3 test server is given for the S3 figures. */
const S3_LATENCY_MS = 20

/** The whole-store operations measured at scale: name, local target (s), what runs. */
const OPS: readonly (readonly [string, number, (repo: Repository) => Promise<unknown>])[] = [
  ['stats', 10, (r) => r.stats()],
  ['gc --dry-run', 5, (r) => r.gc({ dryRun: true })],
  ['verify', 10, (r) => r.verify()],
  ['branch list', 2, (r) => r.listBranches()],
]

/**
 * Cost independent of the number of branches, on the local store and a 16 MiB database: creating
 * `BRANCHES` branches at concurrency 16; one create with them present vs with 10 (interleaved);
 * then stats, gc --dry-run, verify and branch list over all of them — and the same four on the S3
 * test server (fauxqs behind the test proxy, in this process) with every request delayed by
 * `S3_LATENCY_MS`, each as a ratio to its local figure.
 */
export async function benchScale(ctx: BenchContext): Promise<BenchRow[]> {
  const big = await Repository.init(new LocalStore(join(ctx.work, 'big')))
  const small = await Repository.init(new LocalStore(join(ctx.work, 'small')))
  await big.importDatabase(ctx.db16, {})
  await small.importDatabase(ctx.db16, {})
  for (let i = 0; i < 10; i++) await small.createBranch(`b${i}`)
  settle()
  ctx.log(`scale: creating ${BRANCHES} branches at concurrency 16`)
  const limit = pLimit(16)
  const createAll = await timeMs(() => Promise.all(Array.from({ length: BRANCHES }, (_, i) => limit(() => big.createBranch(`b${i}`)))))
  settle()
  ctx.log('scale: 31 creates with many branches present vs with 10, interleaved')
  let n = 0
  const one = await sideBySide(
    31,
    () => big.createBranch(`probe-${n++}`),
    () => small.createBranch(`probe-${n++}`),
  )
  const rows: BenchRow[] = [
    row({
      bench: 'scale: create',
      what: `one branch create with ${BRANCHES} branches present vs with 10 (local)`,
      measured: `${ms(median(one.a))} vs ${ms(median(one.b))} (median of 31)`,
      figure: median(one.a) / median(one.b),
      unit: '×',
      target: { op: '<=', value: 1.5 },
      detail: { manyMs: one.a, fewMs: one.b },
    }),
    row({
      bench: 'scale: create all',
      what: `${BRANCHES} creates at concurrency 16 (local)`,
      measured: ms(createAll),
      figure: createAll / 1000,
      unit: 's',
      target: { op: '<=', value: 60 },
      detail: { ms: createAll, branches: BRANCHES },
    }),
  ]
  const local = new Map<string, number>()
  for (const [name, target, run] of OPS) {
    ctx.log(`scale: ${name}`)
    const t = await timeFresh(new LocalStore(join(ctx.work, 'big')), run)
    local.set(name, t)
    rows.push(row({ bench: `scale: ${name}`, what: `${name} with ${BRANCHES + 32} branches (local)`, measured: ms(t), figure: t / 1000, unit: 's', target: { op: '<=', value: target }, detail: { ms: t } }))
  }
  rows.push(...(await benchScaleS3(ctx, local)))
  return rows
}

/** Time `run` on a freshly opened repository: no manifest cached from earlier steps, as for a CLI command. */
async function timeFresh(store: ObjectStore, run: (repo: Repository) => Promise<unknown>): Promise<number> {
  const fresh = await Repository.open(store)
  return timeMs(() => run(fresh))
}

/**
 * The four whole-store operations on S3: the store is filled with `BRANCHES` branches without
 * latency (filling is not what is measured), then each operation runs with `S3_LATENCY_MS` on
 * every request and is compared with its local figure.
 */
async function benchScaleS3(ctx: BenchContext, local: ReadonlyMap<string, number>): Promise<BenchRow[]> {
  const s3 = await startTestS3()
  const open = (): S3Store => S3Store.fromUrl('s3://scale/big', localTarget(s3.endpoint).options)
  const rows: BenchRow[] = []
  try {
    await createTestBucket(s3.endpoint, 'scale')
    const filler = open()
    const big = await Repository.init(filler)
    await big.importDatabase(ctx.db16, {})
    ctx.log(`scale: creating ${BRANCHES} branches on S3`)
    const limit = pLimit(16)
    await Promise.all(Array.from({ length: BRANCHES }, (_, i) => limit(() => big.createBranch(`b${i}`))))
    await filler.close()
    s3.proxy.latencyMs = S3_LATENCY_MS
    // The first whole-store pass finds no ref index (nothing but such a pass writes one): it reads
    // every ref, one GET each, and writes the index; the passes after it read only what changed.
    const cold: (readonly [string, number, (repo: Repository) => Promise<unknown>])[] = [['branch list, no ref index yet', 2, (r) => r.listBranches()]]
    for (const [name, , run] of [...cold, ...OPS]) {
      ctx.log(`scale: ${name} on S3 (${S3_LATENCY_MS} ms per request)`)
      const store = open()
      s3.proxy.clearLog()
      const t = await timeFresh(store, run).finally(() => store.close())
      const localMs = local.get(name) ?? local.get('branch list')!
      rows.push(
        row({
          bench: `scale: ${name} on S3`,
          what: `${name} with ${BRANCHES + 1} branches, S3 test server with ${S3_LATENCY_MS} ms per request vs local`,
          measured: `${ms(t)} vs ${ms(localMs)} (${s3.proxy.requests.length} requests)`,
          figure: t / localMs,
          unit: '×',
          target: { op: '<=', value: 3 },
          detail: { ms: t, localMs, requests: s3.proxy.requests.length, latencyMs: S3_LATENCY_MS },
        }),
      )
    }
    rows.push(...(await requestsPerOperation(open, s3.proxy)))
  } finally {
    await s3.stop()
  }
  return rows
}

/**
 * Exact requests per operation on S3 with `BRANCHES` branches present, counted by the test proxy.
 * A branch create runs as the CLI runs it, in a store opened for it alone: from a branch it does
 * not open the repository (its source ref proves the store's format). The others run on an open
 * repository (opening reads the format marker once per process).
 */
async function requestsPerOperation(open: () => S3Store, proxy: { clearLog(): void; requests: readonly unknown[]; latencyMs: number }): Promise<BenchRow[]> {
  proxy.latencyMs = 0
  const store = open()
  try {
    const counted = async (run: () => Promise<unknown>): Promise<number> => {
      proxy.clearLog()
      await run()
      return proxy.requests.length
    }
    const create = await counted(() => Repository.createBranchIn(store, 'probe'))
    const repo = await Repository.open(store)
    const page = await repo.readPage('probe', 2)
    page[page.length - 1]! ^= 0xff
    const commit = await counted(() => repo.commit('probe', { writes: [[2, page]] }))
    const del = await counted(() => repo.deleteBranch('probe'))
    const list = await counted(() => repo.listBranches())
    const perOp = (name: string, n: number, target: number, note: string): BenchRow =>
      row({
        bench: `scale: requests, ${name} on S3`,
        what: `${name} with ${BRANCHES + 1} branches present, requests counted by the test proxy (${note})`,
        measured: `${n} requests`,
        figure: n,
        unit: 'requests',
        target: { op: '<=', value: target },
        detail: { requests: n, branches: BRANCHES + 1 },
      })
    return [
      perOp('branch create', create, 3, 'a new process: the source ref, the new ref, the look for gc sweeps'),
      perOp('branch delete', del, 3, 'the ref, the hold check, the tombstone'),
      perOp('one-page commit', commit, 5, 'segment, manifest, ref and their reads'),
      // The allowance: one LIST per 1,000 refs and one GET per ref. The ref index serves the bytes of
    // every ref that has not changed since it was written.
    perOp('branch list', list, Math.ceil((BRANCHES + 1) / 1000) + BRANCHES + 1, 'one LIST per 1,000 refs, the ref index, and a GET per ref changed since it was written'),
    ]
  } finally {
    await store.close()
  }
}
