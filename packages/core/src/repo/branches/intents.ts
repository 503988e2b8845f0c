import { randomUUID } from 'node:crypto'
import pLimit from 'p-limit'
import { ConflictError, MissingObjectError, isStrataError } from '../../errors/index.js'
import type { SnapshotId } from '../../format/ids.js'
import { decodeIntentRecord, encodeIntentRecord, type IntentRecord } from '../../format/intent-record.js'
import { INTENTS_PREFIX, SWEEPS_ENDED_PREFIX, SWEEPS_PREFIX, intentKey, segmentKey, snapshotKey, sweepEndedAt, sweepEndedKey, sweepKey } from '../../format/keys.js'
import type { ObjectStore } from '../../store/object-store.js'
import type { StoreHandle } from '../read/chain.js'
import type { RepoContext } from '../read/context.js'

// Intents and sweep markers: how an operation and a concurrent gc agree on what stays.
// The argument is at the top of `lifecycle/gc.ts`; this file holds the two halves of the protocol.

/** How often an intent or sweep marker is rewritten while its operation runs (ms). */
export const INTENT_RENEW_MS = 10_000

/** An intent or sweep marker not renewed for this long (ms, by the repository clock) belongs to an operation that died. */
export const INTENT_TTL_MS = 60_000

/** The longest an operation waits for running gc sweeps to finish before it gives up (ms). */
export const SWEEP_WAIT_MS = 10 * 60_000

/**
 * An operation that has run for this long (ms, by the repository clock) when it publishes
 * re-checks, under an intent, that the objects it wrote still exist. gc's grace period must exceed
 * it (the default grace is 15 minutes).
 */
export const RECHECK_AFTER_MS = 60_000

/**
 * How long the record of an ended sweep is kept (ms, repository clock). A branch create that
 * finds none from around its start in one listing is done (see {@link sweptSince}).
 */
export const SWEEP_RECORD_KEEP_MS = 10 * 60_000

/** How far apart the repository clocks of two processes may be (ms): the assumption gc.ts states. */
export const CLOCK_SKEW_MS = 60_000

/** An intent or sweep marker with the key it was read from. */
export interface KeyedIntent {
  key: string
  record: IntentRecord
}

/** Where a protocol record lives and the clock it is written by. */
interface Place {
  store: ObjectStore
  now: () => Date
}

/**
 * One record under `intents/` or `sweeps/`, written create-only under a fresh UUID and rewritten
 * every {@link INTENT_RENEW_MS} until {@link release}. A renewal that fails is retried at the next
 * tick; {@link assertAlive} says whether gc may already treat the record as dead.
 */
export class Intent {
  readonly key: string
  readonly #place: Place
  readonly #record: IntentRecord
  #timer: ReturnType<typeof setInterval> | null = null
  /** Repository-clock time of the last successful write. */
  #writtenAt: number

  private constructor(place: Place, key: string, record: IntentRecord) {
    this.#place = place
    this.key = key
    this.#record = record
    this.#writtenAt = Date.parse(record.renewedAt)
  }

  /** Write a new intent (or, with `sweep`, a sweep marker) and start renewing it. */
  static async begin(place: Place, operation: string, snapshots: readonly SnapshotId[], opts: { sweep?: boolean } = {}): Promise<Intent> {
    const at = place.now().toISOString()
    const id = randomUUID()
    const intent = new Intent(place, opts.sweep ? sweepKey(id) : intentKey(id), { operation, snapshots: [...snapshots], startedAt: at, renewedAt: at })
    await place.store.put(intent.key, encodeIntentRecord(intent.#record), { ifNoneMatch: '*' })
    intent.#timer = setInterval(() => void intent.renew().catch(() => {}), INTENT_RENEW_MS)
    intent.#timer.unref()
    return intent
  }

  /** Rewrite the record with a fresh `renewedAt`. */
  async renew(): Promise<void> {
    if (this.#timer === null) return
    const at = this.#place.now()
    await this.#place.store.put(this.key, encodeIntentRecord({ ...this.#record, renewedAt: at.toISOString() }))
    this.#writtenAt = Math.max(this.#writtenAt, at.getTime())
  }

  /**
   * `ConflictError` if the record was last written so long ago that gc may treat it as dead
   * (renewals failed, or the process was paused): the operation must not publish.
   */
  assertAlive(): void {
    const age = this.#place.now().getTime() - this.#writtenAt
    if (age < INTENT_TTL_MS - INTENT_RENEW_MS) return
    throw new ConflictError(
      { key: this.key, condition: 'if-match' },
      `the ${this.#record.operation} could not renew its intent ${this.key} for ${Math.round(age / 1000)}s, so gc may have freed what it was about to publish; nothing was published — retry`,
    )
  }

  /**
   * Stop renewing and delete the record (idempotent; a failed delete leaves a record that goes
   * stale). A sweep marker is first recorded as ended (see {@link retireSweeps}).
   */
  async release(): Promise<void> {
    if (this.#timer === null) return
    clearInterval(this.#timer)
    this.#timer = null
    if (this.key.startsWith(SWEEPS_PREFIX)) await retireSweeps(this.#place, [this.key]).catch(() => {})
    else await this.#place.store.delete([this.key]).catch(() => {})
  }
}

/**
 * Remove the sweep markers `keys` (of sweeps that ended, or died), each after writing the record
 * that its sweep ended now (`sweeps/ended/{ms}-{uuid}`), so that the sweep shows in a listing of
 * `sweeps/` until the record is {@link SWEEP_RECORD_KEEP_MS} old: at every moment one of the two
 * is there. A marker whose record could not be written stays (it goes stale, which is as safe).
 */
export async function retireSweeps(place: Place, keys: readonly string[]): Promise<void> {
  const endedAt = place.now().getTime()
  const recorded: string[] = []
  for (const key of keys) {
    const at = new Date(endedAt).toISOString()
    await place.store.put(sweepEndedKey(key.slice(SWEEPS_PREFIX.length), endedAt), encodeIntentRecord({ operation: 'gc', snapshots: [], startedAt: at, renewedAt: at }))
    recorded.push(key)
  }
  if (recorded.length > 0) await place.store.delete(recorded)
}

/**
 * One listing of `sweeps/`: false if no gc sweep can have deleted anything since `sinceMs`
 * (repository clock, taken before the caller read what it relies on) — no sweep marker is there
 * (running, or left by a gc that died), no sweep ended later than twice {@link CLOCK_SKEW_MS}
 * before `sinceMs`, and the caller is still within {@link RECHECK_AFTER_MS} of `startedMs`
 * (`performance.now()` at `sinceMs`), far inside {@link SWEEP_RECORD_KEEP_MS}, so no record it
 * must see was removed yet. True otherwise: one may have. The argument is in `lifecycle/gc.ts`.
 */
export async function sweptSince(place: Place, sinceMs: number, startedMs: number): Promise<boolean> {
  for await (const o of place.store.list(SWEEPS_PREFIX)) {
    const endedAt = sweepEndedAt(o.key)
    if (endedAt === null || endedAt >= sinceMs - 2 * CLOCK_SKEW_MS) return true
  }
  return performance.now() - startedMs >= RECHECK_AFTER_MS
}

/** True if `r` was renewed within {@link INTENT_TTL_MS} of `nowMs`. */
export function isLive(r: IntentRecord, nowMs: number): boolean {
  return nowMs - Date.parse(r.renewedAt) < INTENT_TTL_MS
}

/**
 * Every intent (or, with `sweeps`, every sweep marker, not the records of ended sweeps) in
 * `store`, live or not. A record deleted between the listing and its read is skipped; an
 * undecodable one throws `CorruptObjectError`.
 */
export async function readIntents(store: ObjectStore, opts: { sweeps?: boolean } = {}): Promise<KeyedIntent[]> {
  const keys: string[] = []
  for await (const o of store.list(opts.sweeps ? SWEEPS_PREFIX : INTENTS_PREFIX)) if (!o.key.startsWith(SWEEPS_ENDED_PREFIX)) keys.push(o.key)
  const out = await Promise.all(
    keys.map(async (key) => {
      const got = await store.get(key)
      return got ? { key, record: decodeIntentRecord(key, got.body) } : null
    }),
  )
  return out.filter((x): x is KeyedIntent => x !== null)
}

/**
 * Wait until no live gc sweep runs in `place.store`. Returns true if it had to wait. After
 * {@link SWEEP_WAIT_MS} it gives up with `ConflictError`.
 */
export async function awaitSweeps(place: Place, operation: string): Promise<boolean> {
  const started = performance.now()
  let waited = false
  for (let pause = 20; ; pause = Math.min(pause * 2, 1000)) {
    const nowMs = place.now().getTime()
    const live = (await readIntents(place.store, { sweeps: true })).filter((s) => isLive(s.record, nowMs))
    if (live.length === 0) return waited
    waited = true
    if (performance.now() - started > SWEEP_WAIT_MS) {
      throw new ConflictError(
        { key: live[0]!.key, condition: 'if-none-match' },
        `the ${operation} waited ${Math.round(SWEEP_WAIT_MS / 60_000)} minutes for a running gc sweep (${live[0]!.key}) to finish; nothing was published — retry when gc is done`,
      )
    }
    await new Promise((r) => setTimeout(r, pause))
  }
}

/**
 * `MissingObjectError` unless every snapshot in the chains of `ids` that lies in `handle`'s store
 * (fallbacks into other stores end the walk) still exists — one HEAD per snapshot, bypassing every
 * cache — and, with `segments`, every segment the manifests of `ids` themselves reference.
 */
export async function assertStillStored(ctx: RepoContext, handle: StoreHandle, ids: readonly SnapshotId[], opts: { segments?: boolean } = {}): Promise<void> {
  const seen = new Set<SnapshotId>()
  const missing = (key: string, referencedBy: string): never => {
    throw new MissingObjectError({ key, referencedBy: `${referencedBy}; a concurrent gc freed it before it was published again` })
  }
  for (const start of ids) {
    let id: SnapshotId | null = start
    let by = 'the snapshot being published'
    while (id !== null && !seen.has(id)) {
      seen.add(id)
      if ((await handle.store.head(snapshotKey(id))) === null) missing(snapshotKey(id), by)
      let m
      try {
        m = await ctx.chains.manifest(id, handle)
      } catch (e) {
        if (isStrataError(e, 'STRATA_MISSING_OBJECT')) missing(snapshotKey(id), by)
        throw e
      }
      if (opts.segments && id === start) {
        const limit = pLimit(ctx.settings.concurrency)
        const present = await Promise.all(m.segments.map((s) => limit(async () => (await handle.store.head(segmentKey(s.id))) !== null)))
        const gone = present.indexOf(false)
        if (gone >= 0) missing(segmentKey(m.segments[gone]!.id), snapshotKey(id))
      }
      const fb = m.fallback
      by = `the fallback of ${snapshotKey(id)}`
      id = fb && (!fb.store || fb.store.id === handle.id) ? fb.snapshot : null
    }
  }
}

/** Options of {@link protectSnapshots}. */
export interface ProtectOptions {
  /** The store the snapshots are in (default: the repository's own). */
  handle?: StoreHandle
  /** Also check every segment the manifests of the snapshots themselves reference. */
  segments?: boolean
  /**
   * A cheaper proof that the snapshots still exist, tried first: e.g. the source branch's ref
   * read again still names it (a ref always names a complete snapshot). False: check the chains.
   */
  stillReferenced?: () => Promise<boolean>
}

/**
 * Protect `snapshots` for an operation about to make them reachable: write an intent naming them,
 * wait out any gc sweep that is running, and check that they (their chains, and with `segments`
 * their segments) still exist. The caller then publishes and releases the intent. Fails with
 * `MissingObjectError` (a gc freed them first) or `ConflictError` (a sweep ran too long, or the
 * intent could not be renewed); nothing is left behind.
 */
export async function protectSnapshots(ctx: RepoContext, operation: string, snapshots: readonly SnapshotId[], opts: ProtectOptions = {}): Promise<Intent> {
  const handle = opts.handle ?? ctx.handle
  const place = { store: handle.store, now: ctx.now }
  const intent = await Intent.begin(place, operation, snapshots)
  const check = async (): Promise<void> => {
    if (opts.stillReferenced && (await opts.stillReferenced())) return
    await assertStillStored(ctx, handle, snapshots, opts.segments ? { segments: true } : {})
  }
  try {
    // In this order: a sweep that deletes after the check was running when the sweeps were
    // looked for (so it was waited out), or started later and sees the intent.
    await awaitSweeps(place, operation)
    await check()
    intent.assertAlive()
    return intent
  } catch (e) {
    await intent.release()
    throw e
  }
}

/**
 * For an operation that has just written a lasting root naming `snapshots` (a branch's ref, a
 * tag, a hold, a pin in a base store): the root plays the intent's part in the handshake. Wait out
 * any running gc sweep, then check that the snapshots still exist (`stillReferenced` first, as in
 * {@link ProtectOptions}); if a sweep freed them first, run `undo` (remove the root, which would
 * name nothing) and fail with `MissingObjectError`.
 */
export async function confirmNewRoot(
  ctx: RepoContext,
  operation: string,
  snapshots: readonly SnapshotId[],
  undo: () => Promise<void>,
  handle: StoreHandle = ctx.handle,
  opts: Pick<ProtectOptions, 'stillReferenced'> = {},
): Promise<void> {
  await awaitSweeps({ store: handle.store, now: ctx.now }, operation)
  try {
    if (opts.stillReferenced && (await opts.stillReferenced())) return
    await assertStillStored(ctx, handle, snapshots)
  } catch (e) {
    if (isStrataError(e, 'STRATA_MISSING_OBJECT')) await undo().catch(() => {})
    throw e
  }
}

/** Run `publish` under {@link protectSnapshots}, releasing the intent afterwards whatever happens. */
export async function withSnapshotsProtected<T>(ctx: RepoContext, operation: string, snapshots: readonly SnapshotId[], publish: () => Promise<T>, opts: ProtectOptions = {}): Promise<T> {
  const intent = await protectSnapshots(ctx, operation, snapshots, opts)
  try {
    return await publish()
  } finally {
    await intent.release()
  }
}
