import { randomUUID } from 'node:crypto'
import { isStrataError } from '../errors/index.js'
import { DOCTOR_PREFIX, FORMAT_KEY, doctorKey } from '../format/keys.js'
import { decodeStoreMarker } from '../format/store-marker.js'
import type { ObjectStore } from './object-store.js'

/**
 * How a store handled one kind of conditional write:
 * - `enforced`: the losing write was refused with a conflict and changed nothing;
 * - `ignored`: the losing write succeeded (the store does not implement the condition);
 * - `failed`: the probe could not run (the error says why, e.g. access denied).
 */
export type ConditionSupport = 'enforced' | 'ignored' | 'failed'

/** Result of {@link probeCompareAndSwap}. */
export interface CasProbe {
  /** `ifNoneMatch: '*'` — a second create of the same key must conflict. */
  createOnly: ConditionSupport
  /** `ifMatch` — a put naming a version that is no longer current must conflict. */
  replaceIfVersion: ConditionSupport
  /** True when both are enforced: refs can be updated safely by compare-and-swap. */
  ok: boolean
  /** Why a probe failed, if one did. */
  error: string | null
}

/**
 * Check that `store` enforces both conditional writes Strata's refs rely on, with scratch
 * objects under `doctor/<run>/` that are deleted afterwards (also when a probe throws). Creates
 * one key twice with `ifNoneMatch: '*'` (the second must conflict and leave the first bytes),
 * and replaces another with the current version (must succeed) and then with the stale one
 * (must conflict). Store errors during the probe are reported as `failed`, not thrown — unless
 * `throwErrors` is set: then a store that fails for another reason (a full disk, no permission)
 * fails with its own error rather than passing for one that ignores conditions.
 */
export async function probeCompareAndSwap(store: ObjectStore, runId: string = randomUUID(), opts: { throwErrors?: boolean } = {}): Promise<CasProbe> {
  const created = doctorKey(runId, 'create-only')
  const replaced = doctorKey(runId, 'replace-if-version')
  const out: CasProbe = { createOnly: 'failed', replaceIfVersion: 'failed', ok: false, error: null }
  try {
    out.createOnly = await probeCreateOnly(store, created)
    out.replaceIfVersion = await probeReplaceIfVersion(store, replaced)
  } catch (e) {
    if (opts.throwErrors) throw e
    out.error = messageOf(e)
  } finally {
    await store.delete([created, replaced]).catch(() => {})
  }
  out.ok = out.createOnly === 'enforced' && out.replaceIfVersion === 'enforced'
  return out
}

async function probeCreateOnly(store: ObjectStore, key: string): Promise<ConditionSupport> {
  await store.put(key, text('first'), { ifNoneMatch: '*' })
  try {
    await store.put(key, text('second'), { ifNoneMatch: '*' })
  } catch (e) {
    if (!isStrataError(e, 'STRATA_CONFLICT')) throw e
    const got = await store.get(key)
    return got && new TextDecoder().decode(got.body) === 'first' ? 'enforced' : 'ignored'
  }
  return 'ignored'
}

async function probeReplaceIfVersion(store: ObjectStore, key: string): Promise<ConditionSupport> {
  const v1 = await store.put(key, text('v1'))
  // The current version must be accepted: a store that refuses it cannot be used for refs at all.
  await store.put(key, text('v2'), { ifMatch: v1.version })
  try {
    await store.put(key, text('v3'), { ifMatch: v1.version })
  } catch (e) {
    if (!isStrataError(e, 'STRATA_CONFLICT')) throw e
    const got = await store.get(key)
    return got && new TextDecoder().decode(got.body) === 'v2' ? 'enforced' : 'ignored'
  }
  return 'ignored'
}

/** Options of {@link probeStore}. */
export interface ProbeStoreOptions {
  /** Keys written and listed by the list-consistency probe. Default 20. */
  listKeys?: number
  /** Parallel upload levels timed by the concurrency probe. Default [1, 4, 16]. */
  concurrencyLevels?: readonly number[]
  /** Bytes per upload in the concurrency probe. Default 256 KiB. */
  objectBytes?: number
  /** Uploads per level (at least the level itself). Default 2 × the level, at least 8. */
  objectsPerLevel?: (level: number) => number
  /** Called with each phase as it starts, for progress display. */
  onPhase?: (phase: string) => void
}

/** One timed level of the concurrency probe. */
export interface ConcurrencySample {
  /** Uploads in flight at once. */
  level: number
  objects: number
  bytes: number
  ms: number
  objectsPerSecond: number
  mibPerSecond: number
  /** Uploads that failed (after the store's own retries), e.g. throttling. */
  errors: number
}

/** What {@link probeStore} found. */
export interface DoctorReport {
  store: string
  /** The store answered a read. */
  reachable: { ok: boolean; latencyMs: number | null; error: string | null }
  /** The Strata repository in the store, if there is one. */
  repository: { storeId: string; createdAt: string } | null
  /** Writes are accepted at all (false: read-only or denied — the write probes were skipped). */
  writable: { ok: boolean; error: string | null }
  cas: CasProbe | null
  /** Keys written are listed at once, and deleted ones are gone from listings at once. */
  listConsistency: { ok: boolean; written: number; listedAfterWrite: number; listedAfterDelete: number } | null
  concurrency: ConcurrencySample[]
  /** The smallest level within 10% of the best throughput and without errors (null: not measured). */
  recommendedConcurrency: number | null
  /** Every scratch object under `doctor/<run>/` is gone again. */
  cleanedUp: boolean
  /** Problems for people; empty when the store is fit for Strata. */
  problems: string[]
  ok: boolean
}

/**
 * Probe a store for what Strata needs of it: reachability (a read of its format marker),
 * whether writes are accepted, conditional writes (see {@link probeCompareAndSwap}), list
 * consistency (N keys written are listed at once; deleted, they are gone at once), and a safe
 * upload concurrency (the throughput of parallel uploads at each level). Every scratch object
 * lives under `doctor/<run>/` and is deleted at the end, whatever happened; `cleanedUp` says
 * whether a final listing found none left. Never throws for what the store does: failures are
 * findings in the report.
 */
export async function probeStore(store: ObjectStore, opts: ProbeStoreOptions = {}): Promise<DoctorReport> {
  const run = randomUUID()
  const problems: string[] = []
  const report: DoctorReport = {
    store: store.url,
    reachable: { ok: false, latencyMs: null, error: null },
    repository: null,
    writable: { ok: false, error: null },
    cas: null,
    listConsistency: null,
    concurrency: [],
    recommendedConcurrency: null,
    cleanedUp: true,
    problems,
    ok: false,
  }
  const phase = (p: string): void => opts.onPhase?.(p)

  phase('reachability')
  const t0 = performance.now()
  try {
    const marker = await store.get(FORMAT_KEY)
    report.reachable = { ok: true, latencyMs: round(performance.now() - t0), error: null }
    if (marker) {
      try {
        const m = decodeStoreMarker(marker.body)
        report.repository = { storeId: m.storeId, createdAt: m.createdAt }
      } catch (e) {
        problems.push(`the format marker ${FORMAT_KEY} cannot be read: ${messageOf(e)}`)
      }
    }
  } catch (e) {
    report.reachable = { ok: false, latencyMs: null, error: messageOf(e) }
    problems.push(`the store is unreachable: ${messageOf(e)}`)
    return finish(report)
  }

  try {
    phase('write')
    try {
      await store.put(doctorKey(run, 'write'), text('strata doctor'))
      report.writable = { ok: true, error: null }
    } catch (e) {
      report.writable = { ok: false, error: messageOf(e) }
      problems.push(`writes are refused (${messageOf(e)}): the store can serve as a read-only base only`)
      return finish(report)
    }

    phase('compare-and-swap')
    report.cas = await probeCompareAndSwap(store, `${run}/cas`)
    if (!report.cas.ok) {
      problems.push(
        `conditional writes are not enforced (create-only: ${report.cas.createOnly}; replace-if-version: ${report.cas.replaceIfVersion})` +
          (report.cas.error ? `: ${report.cas.error}` : '') +
          ': refs cannot be updated safely; Strata refuses to create a repository here unless you opt in (unsafeNoCas)',
      )
    }

    phase('list consistency')
    report.listConsistency = await probeListing(store, run, opts.listKeys ?? 20)
    if (!report.listConsistency.ok) {
      const l = report.listConsistency
      problems.push(`listings lag behind writes (listed ${l.listedAfterWrite} of ${l.written} keys just written, ${l.listedAfterDelete} just deleted): gc's grace period must cover the lag`)
    }

    phase('upload concurrency')
    report.concurrency = await probeConcurrency(store, run, opts)
    report.recommendedConcurrency = recommend(report.concurrency)
    const failedLevels = report.concurrency.filter((s) => s.errors > 0)
    if (failedLevels.length > 0) {
      problems.push(`uploads failed at concurrency ${failedLevels.map((s) => s.level).join(', ')}: use at most ${report.recommendedConcurrency ?? 1} parallel uploads`)
    }
  } finally {
    phase('cleanup')
    report.cleanedUp = await cleanup(store, run)
    if (!report.cleanedUp) problems.push(`scratch objects under ${DOCTOR_PREFIX}${run}/ could not all be deleted`)
  }
  return finish(report)
}

function finish(report: DoctorReport): DoctorReport {
  report.ok = report.problems.length === 0
  return report
}

async function probeListing(store: ObjectStore, run: string, n: number): Promise<NonNullable<DoctorReport['listConsistency']>> {
  const prefix = doctorKey(run, 'list') + '/'
  const keys = Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`)
  await Promise.all(keys.map((k) => store.put(k, text(k))))
  const afterWrite = await countListed(store, prefix)
  await store.delete(keys)
  const afterDelete = await countListed(store, prefix)
  return { ok: afterWrite === n && afterDelete === 0, written: n, listedAfterWrite: afterWrite, listedAfterDelete: afterDelete }
}

async function probeConcurrency(store: ObjectStore, run: string, opts: ProbeStoreOptions): Promise<ConcurrencySample[]> {
  const size = opts.objectBytes ?? 256 * 1024
  const body = new Uint8Array(size)
  for (let i = 0; i < size; i += 4096) body[i] = (i / 4096) & 0xff
  const samples: ConcurrencySample[] = []
  for (const level of opts.concurrencyLevels ?? [1, 4, 16]) {
    const objects = Math.max(level, opts.objectsPerLevel?.(level) ?? Math.max(8, 2 * level))
    const keys = Array.from({ length: objects }, (_, i) => doctorKey(run, `upload/${level}/${i}`))
    let next = 0
    let errors = 0
    const t0 = performance.now()
    await Promise.all(
      Array.from({ length: level }, async () => {
        while (next < keys.length) {
          const key = keys[next++]!
          try {
            await store.put(key, body)
          } catch {
            errors++
          }
        }
      }),
    )
    const ms = Math.max(performance.now() - t0, 0.001)
    const done = objects - errors
    samples.push({
      level,
      objects,
      bytes: done * size,
      ms: round(ms),
      objectsPerSecond: round((done / ms) * 1000),
      mibPerSecond: round(((done * size) / ms) * 1000 / (1024 * 1024)),
      errors,
    })
    await store.delete(keys).catch(() => {})
    // Errors mean the store pushed back: higher levels would only push harder.
    if (errors > 0) break
  }
  return samples
}

function recommend(samples: readonly ConcurrencySample[]): number | null {
  const clean = samples.filter((s) => s.errors === 0)
  if (clean.length === 0) return samples.length > 0 ? 1 : null
  const best = Math.max(...clean.map((s) => s.objectsPerSecond))
  return clean.filter((s) => s.objectsPerSecond >= best * 0.9).sort((a, b) => a.level - b.level)[0]!.level
}

async function cleanup(store: ObjectStore, run: string): Promise<boolean> {
  const prefix = `${DOCTOR_PREFIX}${run}/`
  try {
    const keys: string[] = []
    for await (const o of store.list(prefix)) keys.push(o.key)
    if (keys.length > 0) await store.delete(keys)
    return (await countListed(store, prefix)) === 0
  } catch {
    return false
  }
}

async function countListed(store: ObjectStore, prefix: string): Promise<number> {
  let n = 0
  for await (const _ of store.list(prefix)) n++
  return n
}

function text(s: string): Uint8Array {
  return new TextEncoder().encode(s)
}

function round(n: number): number {
  return Math.round(n * 100) / 100
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}
