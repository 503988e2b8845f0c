import { createHash } from 'node:crypto'
import { mkdir, readFile, readdir, lstat, rm, symlink, writeFile, rename } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Packr } from 'msgpackr'
import { afterEach, describe, expect, it } from 'vitest'
import { LocalStore, Repository, isStrataError, type ObjectStore, type SnapshotId } from '@strata/core'
import { decodeRef, encodeRef, manifestId, refKey, snapshotKey } from '@strata/core/engine'
import { tempDir } from '@strata/core/testing'
import { S3Store } from '@strata/s3'
import { S3TestProxy, newS3TestLocation, s3TestTarget } from '@strata/s3/testing'
import { syntheticDb, writeDb } from './support/databases.js'
import { stampedPage } from './support/pages.js'

// Nothing a branch name, a ref or a manifest says can make a store read or write outside its
// root (local directory) or its bucket prefix (S3). Each test keeps a tempting target next to
// the store — a real repository holding objects with the very keys a crafted manifest would
// reach for — and checks afterwards that not a byte of it changed.

const PS = 512
const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false, mapsAsObjects: true, variableMapSize: true })
const pack = (v: unknown): Uint8Array => new Uint8Array(packr.pack(v))

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

const BAD_NAMES = ['../sentinel', '../../etc/x', '/abs', '..', 'a/../../sentinel', 'x/..', 'sentinel/../../x', 'a\0b', 'C:\\x', '~/x', 'a/./b']

/** Every way a name enters the engine. Each must refuse, typed. */
async function tryNames(repo: Repository, dbPath: string): Promise<number> {
  let refused = 0
  for (const name of BAD_NAMES) {
    for (const call of [
      () => repo.createBranch(name),
      () => repo.createBranch('fine', { from: name }),
      () => repo.renameBranch('b', name),
      () => repo.deleteBranch(name),
      () => repo.commit(name, { writes: [[2, stampedPage(PS, 2, 0, 1)]] }),
      () => repo.materialize(name),
      () => repo.importDatabase(dbPath, { branch: name }),
      () => repo.readDatabase(name),
    ]) {
      const e = await call().then(
        () => null,
        (x: unknown) => x,
      )
      expect(isStrataError(e), `${name}: ${String(e)}`).toBe(true)
      refused++
    }
  }
  return refused
}

/** Point branch `b` at a manifest crafted with `edit` from the manifest `from`. */
async function plantManifest(store: ObjectStore, from: SnapshotId, edit: (fields: Record<string, unknown>) => Record<string, unknown>): Promise<void> {
  const fields = packr.unpack((await store.get(snapshotKey(from)))!.body) as Record<string, unknown>
  const bytes = pack(edit(fields))
  const id = manifestId(bytes)
  await store.put(snapshotKey(id), bytes)
  const ref = (await store.get(refKey('b')))!.body
  await store.put(refKey('b'), encodeRef({ ...decodeRef(refKey('b'), ref), head: id }))
}

let counter = 100

/**
 * Every operation on branch b, and the store-wide ones, through a fresh repository each (no
 * cached manifests): each must fail with a typed error or succeed — never reach outside. Returns
 * an outcome per operation (`verify` reports its problem codes instead of throwing).
 */
async function exercise(open: () => Promise<Repository>): Promise<string[]> {
  const codes: string[] = []
  for (const op of [
    async (r: Repository) => void (await r.readDatabase('b')),
    async (r: Repository) => void (await r.materialize('b')),
    async (r: Repository) => void (await r.commit('b', { writes: [[2, stampedPage(PS, 2, 0, counter++)]] })),
    async (r: Repository) => {
      const v = await r.verify({ deep: true })
      return v.ok ? undefined : `verify:${[...new Set(v.problems.map((p) => p.code))].join('+')}`
    },
    async (r: Repository) => void (await r.gc({ graceMs: 0 })),
  ]) {
    const outcome = await open()
      .then(op)
      .then(
        (x) => x ?? 'ok',
        (e: unknown) => {
          expect(isStrataError(e), String(e)).toBe(true)
          return (e as { code: string }).code.replace('STRATA_', '')
        },
      )
    codes.push(outcome)
  }
  return codes
}

/** Path, size and content hash of every file and link under `dir` (skipping `skip`). */
async function fingerprint(dir: string, skip: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (p === skip) continue
      const st = await lstat(p)
      if (e.isDirectory()) {
        out.push(`${relative(dir, p)}/`)
        await walk(p)
      } else {
        const body = e.isFile() ? createHash('sha256').update(await readFile(p)).digest('hex') : 'link'
        out.push(`${relative(dir, p)} ${st.size} ${st.mtimeMs} ${body}`)
      }
    }
  }
  await walk(dir)
  return out.sort()
}

describe('containment: LocalStore never reaches outside its root', () => {
  it('names, crafted refs and manifests, foreign fallbacks and symlinks in the store leave a neighbouring repository untouched', async () => {
    const work = await tempDir('strata-contain-')
    cleanups.push(work.cleanup)
    const root = join(work.path, 'store')
    const neighbour = join(work.path, 'sentinel')
    const dbPath = await writeDb(work.path, 'base.db', syntheticDb(PS, 32))
    // The neighbour holds a real repository of the same database: the same segment ids exist there.
    const other = await Repository.init(new LocalStore(neighbour), { segmentBytes: 4 * PS })
    await other.importDatabase(dbPath)
    await writeFile(join(work.path, 'secret.txt'), 'do not touch')

    const store = new LocalStore(root)
    const repo = await Repository.init(store, { segmentBytes: 4 * PS })
    await repo.importDatabase(dbPath)
    await repo.createBranch('b')
    await repo.commit('b', { writes: [[2, stampedPage(PS, 2, 0, 1)]] })
    const before = await fingerprint(work.path, root)

    const refusedNames = await tryNames(repo, dbPath)
    const results: Record<string, string[]> = {}

    // Crafted manifests: segment ids and fallbacks that climb out, a fallback into the neighbour's store.
    const good = (await repo.getBranch('b')).head
    // While b points at crafted manifests, gc must not free its real head.
    await repo.createBranch('keep', { from: 'b' })
    const open = (): Promise<Repository> => Repository.open(new LocalStore(root), { segmentBytes: 4 * PS })
    await plantManifest(store, good, (f) => ({ ...f, segments: (f.segments as [string, number][]).map(([, n]) => [`../../sentinel/segments/${'0'.repeat(40)}`, n]) }))
    results['segment id ../'] = await exercise(open)
    await plantManifest(store, good, (f) => ({ ...f, fallback: { snapshot: '../../../sentinel/snapshots/x' } }))
    results['fallback snapshot ../'] = await exercise(open)
    await plantManifest(store, good, (f) => ({ ...f, fallback: { snapshot: (f.fallback as { snapshot: string }).snapshot, store: { url: pathToFileURL(neighbour).href, id: other.storeId } } }))
    results['fallback into the neighbouring store'] = await exercise(open)
    // A ref whose head climbs out.
    const ref = decodeRef(refKey('b'), (await store.get(refKey('b')))!.body)
    await store.put(refKey('b'), pack({ ...(packr.unpack(encodeRef(ref)) as object), head: '../../sentinel/snapshots/x' }))
    results['ref head ../'] = await exercise(open)
    await store.put(refKey('b'), encodeRef({ ...ref, head: good }))
    expect((await (await open()).verify({ deep: true })).ok).toBe(true)

    // Links inside the store: an object, a whole directory, and the store's own temp directory.
    const seg = (await repo.snapshot((await repo.getBranch('main')).head)).segments[0]!.id
    const segFile = join(root, 'segments', seg)
    await rename(segFile, `${segFile}.moved`)
    await symlink(join(neighbour, 'segments', seg), segFile)
    results['segment is a link out'] = await exercise(open)
    await rm(segFile)
    await rename(`${segFile}.moved`, segFile)
    await rename(join(root, 'snapshots'), join(root, 'snapshots.moved'))
    await symlink(join(neighbour, 'snapshots'), join(root, 'snapshots'))
    results['snapshots/ is a link out'] = await exercise(open)
    await rm(join(root, 'snapshots'))
    await rename(join(root, 'snapshots.moved'), join(root, 'snapshots'))
    await rm(join(root, '.tmp'), { recursive: true })
    await mkdir(join(neighbour, 'tmp-target'))
    const afterTmpTarget = await fingerprint(work.path, root)
    await symlink(join(neighbour, 'tmp-target'), join(root, '.tmp'))
    results['.tmp is a link out'] = await exercise(open)
    expect(await fingerprint(work.path, root)).toEqual(afterTmpTarget)
    await rm(join(root, '.tmp'))
    await rm(join(neighbour, 'tmp-target'), { recursive: true })

    // Nothing outside the root changed, the neighbour still verifies, and the store recovers.
    expect(await fingerprint(work.path, root)).toEqual(before)
    expect((await (await Repository.open(new LocalStore(neighbour))).verify({ deep: true })).ok).toBe(true)
    const healed = await Repository.open(new LocalStore(root))
    expect((await healed.verify({ deep: true })).ok).toBe(true)
    // Crafted objects stop every reader; links stop every access that would follow them.
    for (const what of ['segment id ../', 'fallback snapshot ../', 'ref head ../']) expect(results[what]!.slice(0, 3), what).toEqual(['CORRUPT_OBJECT', 'CORRUPT_OBJECT', 'CORRUPT_OBJECT'])
    expect(results['fallback into the neighbouring store']!.slice(0, 2), 'an unlisted store is never opened').toEqual(['STORE_NOT_ALLOWED', 'STORE_NOT_ALLOWED'])
    expect(results['snapshots/ is a link out']!.slice(0, 3), 'a linked snapshots/ is neither read nor written through').toEqual(['STORE_ERROR', 'STORE_ERROR', 'STORE_ERROR'])
    expect(results['.tmp is a link out']!.slice(1, 3), 'no write goes through a linked .tmp/').toEqual(['STORE_ERROR', 'STORE_ERROR'])
    console.info(`[reliability] containment (LocalStore): ${refusedNames} bad-name calls refused; ${Object.entries(results).map(([k, v]) => `${k}: ${v.join('/')}`).join('; ')}; nothing outside the root changed`)
  }, 60_000)
})

describe('containment: S3Store never reaches outside its bucket prefix', () => {
  it('every request stays under the prefix, and sibling prefixes (including one sharing its text) are untouched', async () => {
    const target = s3TestTarget()
    const location = await newS3TestLocation('containment', target)
    cleanups.push(() => location.cleanup())
    // A logging proxy in front of the test server: it sees every request the store makes.
    const proxy = await S3TestProxy.start({ upstream: target.endpoint, conditionalWrites: false })
    cleanups.push(() => proxy.close())
    const work = await tempDir('strata-contain-s3-')
    cleanups.push(work.cleanup)
    const dbPath = await writeDb(work.path, 'base.db', syntheticDb(PS, 32))

    // Neighbours: a real repository in a sibling prefix, one whose prefix shares our prefix's text, and bucket-root objects.
    for (const sub of ['tenant/b', 'tenant/ab', 'tenant/a-b']) {
      const r = await Repository.init(location.open(sub), { segmentBytes: 4 * PS })
      await r.importDatabase(dbPath)
      await r.createBranch('b')
      await r.close()
    }
    const root = location.open('')
    await root.put('refs/b', new TextEncoder().encode('bucket-root decoy'))
    await root.put('tenant/segments/x', new TextEncoder().encode('parent-prefix decoy'))
    const outside = async (): Promise<string[]> => {
      const out: string[] = []
      for await (const o of root.list('')) if (!o.key.startsWith('tenant/a/')) out.push(`${o.key} ${o.size} ${o.version}`)
      return out.sort()
    }
    const before = await outside()

    const store = S3Store.fromUrl(location.url('tenant/a'), { ...target.options, endpoint: proxy.endpoint })
    cleanups.push(() => store.close())
    const repo = await Repository.init(store, { segmentBytes: 4 * PS })
    await repo.importDatabase(dbPath)
    await repo.createBranch('b')
    await repo.commit('b', { writes: [[2, stampedPage(PS, 2, 0, 1)]] })
    const refusedNames = await tryNames(repo, dbPath)
    const results: Record<string, string[]> = {}
    const good = (await repo.getBranch('b')).head
    await repo.createBranch('keep', { from: 'b' })
    const open = (): Promise<Repository> => Repository.open(store, { segmentBytes: 4 * PS })
    await plantManifest(store, good, (f) => ({ ...f, segments: (f.segments as [string, number][]).map(([, n]) => [`../../tenant/b/segments/${'0'.repeat(40)}`, n]) }))
    results['segment id ../'] = await exercise(open)
    await plantManifest(store, good, (f) => ({ ...f, fallback: { snapshot: '../b/snapshots/x' } }))
    results['fallback snapshot ../'] = await exercise(open)
    const siblingId = (await Repository.open(location.open('tenant/b'))).storeId
    await plantManifest(store, good, (f) => ({ ...f, fallback: { snapshot: (f.fallback as { snapshot: string }).snapshot, store: { url: location.url('tenant/b'), id: siblingId } } }))
    results['fallback into the sibling prefix'] = await exercise(open)
    for (const what of ['segment id ../', 'fallback snapshot ../']) expect(results[what]!.slice(0, 3), what).toEqual(['CORRUPT_OBJECT', 'CORRUPT_OBJECT', 'CORRUPT_OBJECT'])
    expect(results['fallback into the sibling prefix']!.slice(0, 2), 'an unlisted store is never opened').toEqual(['STORE_NOT_ALLOWED', 'STORE_NOT_ALLOWED'])
    const ref = decodeRef(refKey('b'), (await store.get(refKey('b')))!.body)
    await store.put(refKey('b'), encodeRef({ ...ref, head: good }))
    // A full life cycle, garbage collection included, with the neighbours present.
    await repo.createBranch('tmp', { from: 'b' })
    await repo.commit('tmp', { writes: [[3, stampedPage(PS, 3, 0, 1)]] })
    await repo.deleteBranch('tmp')
    await repo.materialize('b')
    await repo.gc({ graceMs: 0, retention: { keepLast: 1, keepWithinMs: 0 } })
    expect((await repo.verify({ deep: true })).ok).toBe(true)

    // Every request named our prefix: object paths under /bucket/tenant/a/, listings with a prefix under it, batch deletes (keys checked below).
    const base = `/${location.bucket}/`
    const ours = location.url('tenant/a').slice(`s3://${location.bucket}/`.length) + '/'
    const stray = proxy.requests.filter((r) => {
      const url = new URL(r.url, 'http://x')
      const key = decodeURIComponent(url.pathname.slice(base.length))
      if (key !== '') return !key.startsWith(ours)
      if (url.searchParams.has('list-type')) return !(url.searchParams.get('prefix') ?? '').startsWith(ours)
      return !(r.method === 'POST' && url.searchParams.has('delete'))
    })
    expect(stray.map((r) => `${r.method} ${r.url}`)).toEqual([])
    expect(await outside()).toEqual(before)
    for (const sub of ['tenant/b', 'tenant/ab', 'tenant/a-b']) {
      expect((await (await Repository.open(location.open(sub))).verify({ deep: true })).ok, sub).toBe(true)
    }
    console.info(
      `[reliability] containment (S3Store): ${proxy.requests.length} requests, all under ${ours}; ${refusedNames} bad-name calls refused; ` +
        `${Object.entries(results).map(([k, v]) => `${k}: ${v.join('/')}`).join('; ')}; sibling prefixes and bucket-root objects unchanged`,
    )
  }, 120_000)
})
