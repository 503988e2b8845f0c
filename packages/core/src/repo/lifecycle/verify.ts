import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pLimit from 'p-limit'
import { isStrataError } from '../../errors/index.js'
import { decodeBranchRecord } from '../../format/branch-record.js'
import { DatabaseChecksum, PAGE_HASH_BYTES, hashAtEqual, hashPage, toHex } from '../../format/hash.js'
import type { BranchId, SegmentId, SnapshotId } from '../../format/ids.js'
import { REFS_PREFIX, SEGMENTS_PREFIX, branchKey, segmentKey, snapshotKey } from '../../format/keys.js'
import type { SnapshotManifest } from '../../format/manifest.js'
import type { PageNo } from '../../format/page.js'
import { decodeRef, type Ref } from '../../format/ref.js'
import { isTombstone } from '../branches/refs.js'
import { ChainLoader, pageHashOf, type ChainLevel, type ResolvedTable, type StoreHandle } from '../read/chain.js'
import { crossStoreDependencies, type CrossStoreDependency } from '../cross-store/cross-store.js'
import { exportSnapshot } from '../read/export-snapshot.js'
import type { OperationOptions } from '../read/progress.js'
import { METADATA_READS, readObjects, readRefObjects } from '../branches/ref-index.js'
import { ROOT_KINDS, retainedHistory, retentionOf, type RetentionPolicy, type RootKind, type RootKindSpec } from '../reachability/roots.js'
import { type RepoContext } from '../read/context.js'

/** What kind of problem verify found. Stable: tools may match on them. */
export type VerifyProblemCode =
  /** A ref object cannot be decoded. */
  | 'corrupt-ref'
  /** A ref's head or base snapshot does not exist. */
  | 'dangling-ref'
  /** A ref's branch record does not exist. */
  | 'missing-branch-record'
  /** A ref's branch record cannot be decoded or names another branch id. */
  | 'corrupt-branch-record'
  /** A tag, hold or pin cannot be decoded. */
  | 'corrupt-root'
  /** A tag, hold or pin names a snapshot that does not exist. */
  | 'dangling-root'
  /** A snapshot a chain falls back to does not exist. */
  | 'missing-snapshot'
  /** A snapshot manifest cannot be decoded or fails its own checks. */
  | 'corrupt-snapshot'
  /** A fallback chain loops. */
  | 'fallback-cycle'
  /** A fallback names another store that cannot be opened (not allowed, unreachable, swapped). */
  | 'fallback-store'
  /** A page of a snapshot is in no level of its chain. */
  | 'missing-page'
  /** A segment a manifest references does not exist. */
  | 'missing-segment'
  /** A segment is shorter than the length its manifest records. */
  | 'truncated-segment'
  /** A page's bytes do not hash to the recorded hash (deep only). */
  | 'corrupt-page'
  /** A snapshot's recorded checksum disagrees with its resolved page hashes (deep only). */
  | 'checksum-mismatch'
  /** The integrity hook reported a problem with an exported branch. */
  | 'integrity'

/** One problem, with everything it involves that is known. */
export interface VerifyProblem {
  code: VerifyProblemCode
  /** What is wrong, for people. */
  message: string
  /** A branch that reaches the damaged object (null: none, or only a tag, hold or pin). */
  branch: string | null
  snapshot: SnapshotId | null
  page: number | null
  /** The object key involved. */
  key: string | null
}

/**
 * Runs a database-level check (e.g. `PRAGMA integrity_check`) on a branch exported to `path`.
 * Returns the problems found as messages (an empty list: the database is fine). The file is
 * removed after the call.
 */
export type IntegrityCheck = (file: { path: string; branch: string; snapshot: SnapshotId }) => Promise<string[]>

/** Options for verify. */
export interface VerifyOptions extends OperationOptions {
  /** Re-read every ref, re-read and re-hash every stored page, and check every snapshot's checksum. Default false. */
  deep?: boolean
  /** History checked behind each head (default: gc's default retention). A missing parent ends it quietly. */
  retention?: RetentionPolicy
  /** Export each branch head that passed and run this check on the file. */
  integrity?: IntegrityCheck
  /** Directory for the integrity exports. Default the OS temp directory. */
  tempDir?: string
}

/** What verify found. */
export interface VerifyResult {
  /** True when there is no problem. */
  ok: boolean
  problems: VerifyProblem[]
  checked: {
    refs: number
    /** Distinct snapshots loaded (every level of every chain checked). */
    snapshots: number
    /** Distinct segments checked for existence and length. */
    segments: number
    /** Distinct stored page images: located within a present segment, and re-hashed when deep. */
    pages: number
  }
  /**
   * Other stores this one stacks on, what it needs there and whether it is pinned (see
   * `crossStoreDependencies`). Informational: a base that cannot be read is also a
   * `fallback-store` problem; an unpinned one is not a problem until gc there frees it.
   */
  crossStore: CrossStoreDependency[]
}

interface Target {
  id: SnapshotId
  /** The branch it belongs to, or null for tags, holds and pins. */
  branch: string | null
  /** What names it (for messages). */
  via: string
  /** What a missing target is: a dangling ref or root. */
  missingCode: 'dangling-ref' | 'dangling-root' | null
  rootKey: string | null
}

interface SegmentCheck {
  store: StoreHandle
  id: SegmentId
  length: number
  pageSize: number
  /** slot → hash and the first snapshot/page/branch that reads it. */
  slots: Map<number, { hash: Uint8Array; snapshot: SnapshotId; page: number; branch: string | null }>
}

/**
 * Check that every branch is fully readable, collecting every problem rather than stopping at
 * the first: every ref decodes and has its branch record, head and base; every tag, hold and pin
 * decodes and names an existing snapshot; every snapshot reachable from them (their fallback
 * chains and the retained history of each branch) loads and resolves every page; every segment
 * those snapshots reference exists and is at least as long as recorded. `deep` also re-reads
 * every referenced page and checks it against its hash, and each snapshot's checksum against its
 * pages. `integrity` exports each sound branch head and runs the given check on it.
 * Manifests are read fresh from the store (each once), never from a cache. Refs come from the
 * ref index where its entry has the version the listing shows — the bytes a read would return —
 * unless `deep`, which reads every ref itself.
 */
export async function verify(ctx: RepoContext, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const problems: VerifyProblem[] = []
  const report = (p: Omit<VerifyProblem, 'branch' | 'snapshot' | 'page' | 'key'> & Partial<VerifyProblem>): void => {
    problems.push({ branch: null, snapshot: null, page: null, key: null, ...p })
  }
  const loader = new ChainLoader(ctx.handle, ctx.settings.fallbackStores)
  const store = ctx.store
  const now = ctx.now().getTime()
  const policy = retentionOf(opts.retention)
  const progress = (phase: string, loaded: number, total: number): void => opts.onProgress?.({ phase, loaded, total })

  // Refs and their branch records.
  const targets: Target[] = []
  const refs: Ref[] = []
  // Each ref is read once: deep re-reads every one; otherwise the ref index serves those whose
  // listed version it holds (the same bytes), and the rest are read one by one.
  const refObjects = opts.deep ? await readObjects(store, REFS_PREFIX) : await readRefObjects(store)
  let refsChecked = 0
  // Each ref's branch record is read in parallel (bounded), then checked in key order. A ref of
  // format 2.0 carries its origin; only an older ref needs its branch record read.
  const refLimit = pLimit(METADATA_READS)
  const fetched = await Promise.all(
    refObjects.map((got) =>
      refLimit(async () => {
        const key = got.key
        let rec: Awaited<ReturnType<typeof store.get>> | 'origin' = null
        try {
          const ref = decodeRef(key, got.body)
          if (ref.origin) rec = 'origin'
          else rec = await store.get(branchKey(ref.branchId as BranchId))
        } catch {
          // A corrupt ref is reported below.
        }
        progress('refs', ++refsChecked, refObjects.length)
        return { key, got, rec }
      }),
    ),
  )
  for (const { key, got, rec } of fetched) {
    if (!got) continue
    let ref: Ref
    try {
      ref = decodeRef(key, got.body)
    } catch (e) {
      report({ code: 'corrupt-ref', message: messageOf(e), key })
      continue
    }
    // A tombstone is a deletion in progress or interrupted: no branch, nothing it names need exist.
    if (isTombstone(ref)) continue
    refs.push(ref)
    const bkey = branchKey(ref.branchId as BranchId)
    if (rec === 'origin') {
      // Its record, if one was written, is a copy of what the ref holds.
    } else if (!rec) {
      report({ code: 'missing-branch-record', message: `branch "${ref.name}": its branch record ${bkey} does not exist`, branch: ref.name, key: bkey })
    } else {
      try {
        const r = decodeBranchRecord(bkey, rec.body)
        if (r.id !== ref.branchId) report({ code: 'corrupt-branch-record', message: `branch "${ref.name}": ${bkey} holds the record of branch id ${r.id}`, branch: ref.name, key: bkey })
      } catch (e) {
        report({ code: 'corrupt-branch-record', message: messageOf(e), branch: ref.name, key: bkey })
      }
    }
    targets.push({ id: ref.head, branch: ref.name, via: `the head of branch "${ref.name}"`, missingCode: 'dangling-ref', rootKey: key })
    if (ref.base !== ref.head) targets.push({ id: ref.base, branch: ref.name, via: `the base of branch "${ref.name}"`, missingCode: 'dangling-ref', rootKey: key })
  }

  // Tags, holds and pins.
  const heldBranches = new Set<string>()
  for (const spec of ROOT_KINDS as readonly RootKindSpec<RootKind, unknown>[]) {
    if (spec.kind === 'branch') continue // checked above, with their branch records
    for (const key of await keysUnder(ctx, spec.prefix)) {
      const got = await store.get(key)
      if (!got) continue
      try {
        const record = spec.decode(key, got.body)
        const held = spec.heldBranch(record)
        if (held !== null) heldBranches.add(held)
        const id = spec.target(record)
        if (id) targets.push({ id, branch: null, via: `the ${spec.kind} ${key}`, missingCode: 'dangling-root', rootKey: key })
      } catch (e) {
        report({ code: 'corrupt-root', message: messageOf(e), key })
      }
    }
  }

  // Retained history of each branch.
  const loadOrNull = async (id: SnapshotId): Promise<SnapshotManifest | null> => {
    try {
      return await loader.manifest(id)
    } catch {
      // Missing or corrupt: the target check below reports it when it matters.
      return null
    }
  }
  const histories = await Promise.all(refs.map((ref) => refLimit(() => retainedHistory(loadOrNull, ref, policy, now, heldBranches.has(ref.name)))))
  refs.forEach((ref, i) => {
    for (const h of histories[i]!) {
      targets.push({ id: h.id, branch: ref.name, via: `history of branch "${ref.name}" (${h.depth} back)`, missingCode: null, rootKey: null })
    }
  })
  // Load every target's manifest once, in parallel, before the chains are walked one by one.
  await Promise.all([...new Set(targets.map((t) => t.id))].map((id) => refLimit(() => loadOrNull(id))))

  // Every chain, level by level, then its page table.
  const levels = new Map<string, { level: ChainLevel; branch: string | null }>()
  const broken = new Map<string, Break>()
  const reported = new Set<string>()
  // Resolved tables are kept only for deep's checksums (one per distinct snapshot); otherwise
  // just which snapshots resolved, so memory does not grow with every branch's page table.
  const tables: { target: Target; table: ResolvedTable }[] = []
  const resolved = new Set<SnapshotId>()
  const done = new Set<SnapshotId>()
  let snapshotsChecked = 0
  for (const target of targets) {
    progress('snapshots', ++snapshotsChecked, targets.length)
    if (done.has(target.id)) continue
    done.add(target.id)
    const chainOk = await walkChain(loader, target, levels, broken, reported, report)
    if (!chainOk) continue
    try {
      const table = await loader.resolve(target.id, { branch: target.branch })
      resolved.add(target.id)
      if (opts.deep) tables.push({ target, table })
    } catch (e) {
      if (isStrataError(e, 'STRATA_MISSING_PAGE')) {
        const d = e.data as { pageNo: number }
        report({ code: 'missing-page', message: e.message, branch: target.branch, snapshot: target.id, page: d.pageNo })
      } else throw e
    }
  }

  // Segments: existence and length; one listing of this store, HEAD requests elsewhere.
  const segments = new Map<string, SegmentCheck>()
  for (const { level, branch } of levels.values()) {
    const m = level.manifest
    const t = m.pages
    for (let e = 0; e < t.pageNos.length; e++) {
      const ref = m.segments[t.segments[e]!]!
      const k = `${level.store.id}/${ref.id}`
      let s = segments.get(k)
      if (!s) {
        s = { store: level.store, id: ref.id, length: ref.length, pageSize: m.pageSize, slots: new Map() }
        segments.set(k, s)
      }
      s.length = Math.max(s.length, ref.length)
      const slot = t.slots[e]!
      if (!s.slots.has(slot)) s.slots.set(slot, { hash: t.hashes.subarray(e * PAGE_HASH_BYTES, (e + 1) * PAGE_HASH_BYTES), snapshot: level.id, page: t.pageNos[e]!, branch })
    }
    // Segments no page uses still have to exist: the manifest lists them.
    for (const ref of m.segments) {
      const k = `${level.store.id}/${ref.id}`
      if (!segments.has(k)) segments.set(k, { store: level.store, id: ref.id, length: ref.length, pageSize: m.pageSize, slots: new Map() })
    }
  }
  const homeSizes = new Map<string, number>()
  for await (const o of store.list(SEGMENTS_PREFIX)) homeSizes.set(o.key, o.size)
  const present: SegmentCheck[] = []
  let segmentsChecked = 0
  let pages = 0
  const limit = pLimit(ctx.settings.concurrency)
  await Promise.all(
    [...segments.values()].map((s) =>
      limit(async () => {
        const key = segmentKey(s.id)
        const size = s.store.id === ctx.storeId ? homeSizes.get(key) : (await s.store.store.head(key))?.size
        const first = firstUse(s)
        const where = s.store.id === ctx.storeId ? key : `${s.store.store.url}/${key}`
        progress('segments', ++segmentsChecked, segments.size)
        if (size === undefined) {
          report({ code: 'missing-segment', message: `segment ${where} does not exist (read by snapshot ${first.snapshot}${first.page ? `, page ${first.page}` : ''})`, branch: first.branch, snapshot: first.snapshot, page: first.page, key: where })
        } else if (size < s.length) {
          report({ code: 'truncated-segment', message: `segment ${where} is ${size} bytes, shorter than the ${s.length} its manifest records (read by snapshot ${first.snapshot})`, branch: first.branch, snapshot: first.snapshot, page: first.page, key: where })
        } else {
          present.push(s)
          pages += s.slots.size
        }
      }),
    ),
  )

  if (opts.deep) {
    pages = 0
    let hashed = 0
    const total = present.reduce((n, s) => n + s.slots.size, 0)
    await Promise.all(
      present.map((s) =>
        limit(async () => {
          const key = segmentKey(s.id)
          const got = await s.store.store.get(key)
          const where = s.store.id === ctx.storeId ? key : `${s.store.store.url}/${key}`
          if (!got) {
            const first = firstUse(s)
            report({ code: 'missing-segment', message: `segment ${where} disappeared while it was verified`, branch: first.branch, snapshot: first.snapshot, page: first.page, key: where })
            return
          }
          for (const [slot, use] of s.slots) {
            const page = got.body.subarray(slot * s.pageSize, (slot + 1) * s.pageSize)
            const actual = hashPage(page)
            pages++
            if (page.byteLength !== s.pageSize || !hashAtEqual(actual, 0, use.hash, 0)) {
              report({
                code: 'corrupt-page',
                message: `page ${use.page} of snapshot ${use.snapshot} (slot ${slot} of ${where}) hashes to ${toHex(actual)}, not the recorded ${toHex(use.hash)}`,
                branch: use.branch,
                snapshot: use.snapshot,
                page: use.page,
                key: where,
              })
            }
          }
          progress('pages', (hashed += s.slots.size), total)
        }),
      ),
    )
    for (const { target, table } of tables) {
      const sum = new DatabaseChecksum()
      for (let p = 1; p <= table.pageCount; p++) {
        const h = pageHashOf(table, p as PageNo)
        if (h) sum.toggle(p as PageNo, h)
      }
      const expected = toHex(table.levels[0]!.manifest.checksum)
      if (sum.toHex() !== expected) {
        report({ code: 'checksum-mismatch', message: `snapshot ${target.id}: its pages give checksum ${sum.toHex()}, its manifest records ${expected}`, branch: target.branch, snapshot: target.id, key: snapshotKey(target.id) })
      }
    }
  }

  if (opts.integrity) {
    const damaged = new Set(problems.map((p) => p.snapshot).filter((s) => s !== null))
    const heads = refs.filter((r) => !damaged.has(r.head) && resolved.has(r.head))
    let n = 0
    for (const ref of heads) {
      progress('integrity', n++, heads.length)
      const path = join(opts.tempDir ?? tmpdir(), `strata-verify-${randomBytes(6).toString('hex')}.sqlite`)
      try {
        await exportSnapshot(ctx, { snapshot: ref.head, branch: ref.name }, path, opts.signal ? { signal: opts.signal } : {})
        for (const message of await opts.integrity({ path, branch: ref.name, snapshot: ref.head })) {
          report({ code: 'integrity', message: `branch "${ref.name}": ${message}`, branch: ref.name, snapshot: ref.head })
        }
      } catch (e) {
        if (!isStrataError(e)) throw e
        report({ code: codeOf(e), message: e.message, branch: ref.name, snapshot: ref.head, key: keyOf(e) })
      } finally {
        await Promise.all(['', '-wal', '-shm', '-journal'].map((s) => rm(path + s, { force: true })))
      }
    }
  }

  return {
    ok: problems.length === 0,
    problems,
    checked: { refs: refs.length, snapshots: levels.size, segments: segments.size, pages },
    // Damage that keeps the dependencies from being listed is already among the problems.
    crossStore: await crossStoreDependencies(ctx).catch((e: unknown) => {
      if (isStrataError(e)) return []
      throw e
    }),
  }
}

type Report = (p: Omit<VerifyProblem, 'branch' | 'snapshot' | 'page' | 'key'> & Partial<VerifyProblem>) => void

/** Why a level of a chain cannot be loaded. */
interface Break {
  code: 'missing' | 'corrupt-snapshot'
  message: string
}

/**
 * Load the chain of `target` level by level, recording each level once. Reports where it breaks
 * (missing, corrupt, cycle, unreachable store) once per branch and broken object, and returns
 * false if it does.
 */
async function walkChain(
  loader: ChainLoader,
  target: Target,
  levels: Map<string, { level: ChainLevel; branch: string | null }>,
  broken: Map<string, Break>,
  reported: Set<string>,
  report: Report,
): Promise<boolean> {
  const once = (p: Parameters<Report>[0]): void => {
    const k = `${p.code} ${p.branch ?? ''} ${p.key ?? ''}`
    if (reported.has(k)) return
    reported.add(k)
    report(p)
  }
  const seen = new Set<string>()
  let cur: { id: SnapshotId; store: StoreHandle; from: SnapshotId | null } | null = { id: target.id, store: loader.home, from: null }
  while (cur) {
    const tag = `${cur.store.id}/${cur.id}`
    const key = cur.store === loader.home ? snapshotKey(cur.id) : `${cur.store.store.url}/${snapshotKey(cur.id)}`
    if (seen.has(tag)) {
      once({ code: 'fallback-cycle', message: `the chain of snapshot ${target.id} loops back to ${cur.id}`, branch: target.branch, snapshot: target.id, key })
      return false
    }
    seen.add(tag)
    let m: SnapshotManifest | null = null
    let brk = broken.get(tag) ?? null
    if (!brk) {
      try {
        m = await loader.manifest(cur.id, cur.store)
      } catch (e) {
        if (!isStrataError(e)) throw e
        brk = isStrataError(e, 'STRATA_MISSING_OBJECT') ? { code: 'missing', message: e.message } : { code: 'corrupt-snapshot', message: e.message }
        broken.set(tag, brk)
      }
    }
    if (brk || !m) {
      const b = brk!
      if (b.code === 'missing') {
        if (cur.from === null && target.missingCode) {
          once({ code: target.missingCode, message: `${target.via} is snapshot ${cur.id}, which does not exist (${key})`, branch: target.branch, snapshot: cur.id, key: target.rootKey ?? key })
        } else if (cur.from === null) {
          once({ code: 'missing-snapshot', message: `snapshot ${cur.id} (${target.via}) does not exist`, branch: target.branch, snapshot: cur.id, key })
        } else {
          once({ code: 'missing-snapshot', message: `snapshot ${cur.from} falls back to ${cur.id}, which does not exist (${key}); reached as ${target.via}`, branch: target.branch, snapshot: cur.from, key })
        }
      } else {
        once({ code: b.code, message: b.message, branch: target.branch, snapshot: cur.id, key })
      }
      return false
    }
    if (!levels.has(tag)) levels.set(tag, { level: { id: cur.id, manifest: m, store: cur.store }, branch: target.branch })
    const fb = m.fallback
    if (!fb) return true
    let next: StoreHandle
    try {
      next = await loader.storeFor(cur.store, fb)
    } catch (e) {
      if (!isStrataError(e)) throw e
      once({ code: 'fallback-store', message: e.message, branch: target.branch, snapshot: cur.id, key })
      return false
    }
    cur = { id: fb.snapshot, store: next, from: cur.id }
  }
  return true
}

function firstUse(s: SegmentCheck): { snapshot: SnapshotId | null; page: number | null; branch: string | null } {
  for (const u of s.slots.values()) return { snapshot: u.snapshot, page: u.page, branch: u.branch }
  return { snapshot: null, page: null, branch: null }
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

function codeOf(e: { code: string }): VerifyProblemCode {
  switch (e.code) {
    case 'STRATA_MISSING_OBJECT':
      return 'missing-segment'
    case 'STRATA_CORRUPT_PAGE':
      return 'corrupt-page'
    case 'STRATA_CHECKSUM_MISMATCH':
      return 'checksum-mismatch'
    case 'STRATA_CORRUPT_OBJECT':
      return 'truncated-segment'
    default:
      return 'integrity'
  }
}

function keyOf(e: { data?: unknown }): string | null {
  const d = e.data as { key?: unknown } | undefined
  return typeof d?.key === 'string' ? d.key : null
}

async function keysUnder(ctx: RepoContext, prefix: string): Promise<string[]> {
  const keys: string[] = []
  for await (const o of ctx.store.list(prefix)) keys.push(o.key)
  return keys
}
