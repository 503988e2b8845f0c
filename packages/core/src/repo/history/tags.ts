import { TagExistsError, TagNotFoundError, isStrataError } from '../../errors/index.js'
import type { SnapshotId } from '../../format/ids.js'
import { TAGS_FOLDED_KEY, TAGS_PREFIX, legacyTagKey, tagKey } from '../../format/keys.js'
import { decodeName, foldName, validateName } from '../../format/names.js'
import { decodeTagRecord, encodeTagRecord, type TagRecord } from '../../format/tag-record.js'
import { type RepoContext, nowIso } from '../read/context.js'
import { confirmNewRoot } from '../branches/intents.js'
import { readTag, resolveTarget } from '../branches/resolve-target.js'
import { readObjects } from '../branches/ref-index.js'

/** Options for {@link createTag}. */
export interface CreateTagOptions {
  /** Why the snapshot is tagged (recorded, shown by `listTags`). Default empty. */
  message?: string
}

/**
 * Tag the snapshot `spec` resolves to (a branch name tags its current head; a snapshot id or
 * unique prefix; another tag) as `name`. Create-only: a tag never moves, so an existing tag of
 * that name — or one differing only in letter case — is `TagExistsError`, whatever it points at.
 * Tag names follow the branch-name rules (`InvalidNameError`) and live in their own namespace.
 * The tag is a gc root: the snapshot and everything its chain reads stay alive while it exists.
 * Case twins share one key (the case-folded name), so of simultaneous creators of `V1` and `v1`
 * exactly one put succeeds, and no listing is needed — once the store is known to hold no tag
 * at a pre-folding key (`index/tags-folded`; the first create that finds none writes it).
 */
export async function createTag(ctx: RepoContext, name: string, spec: string, opts: CreateTagOptions = {}): Promise<TagRecord> {
  validateName(name, 'tag name')
  const target = await resolveTarget(ctx, spec)
  await assertNoLegacyTwin(ctx, name)
  const record: TagRecord = { name, snapshot: target.snapshot, createdAt: nowIso(ctx), message: opts.message ?? '' }
  const key = tagKey(name)
  try {
    await ctx.store.put(key, encodeTagRecord(record), { ifNoneMatch: '*' })
  } catch (e) {
    if (!isStrataError(e, 'STRATA_CONFLICT')) throw e
    const got = await ctx.store.get(key).catch(() => null)
    const other = got ? decodeTagRecord(key, got.body) : null
    throw new TagExistsError({ name, existing: other?.name ?? name, snapshot: other?.snapshot ?? '' })
  }
  // The snapshot may be kept by nothing but this tag (history past retention, a snapshot id): a
  // gc sweep already running could still free it (see gc.ts).
  await confirmNewRoot(ctx, 'tag', [target.snapshot], () => ctx.store.delete([tagKey(name)]))
  return record
}

/**
 * Tags written before tag keys were case-folded sit at the key of their exact name; a case twin
 * of one would not share its key. Unless the store is marked free of them, list the tags: refuse
 * a twin of such a tag, or, finding none, mark the store so later creates skip this.
 */
async function assertNoLegacyTwin(ctx: RepoContext, name: string): Promise<void> {
  if (await ctx.store.get(TAGS_FOLDED_KEY)) return
  const folded = foldName(name)
  let legacy = 0
  for (const t of await listTagsAt(ctx)) {
    if (t.key !== tagKey(t.record.name)) legacy++
    if (t.key !== tagKey(name) && foldName(t.record.name) === folded) throw new TagExistsError({ name, existing: t.record.name, snapshot: t.record.snapshot })
  }
  if (legacy === 0) await ctx.store.put(TAGS_FOLDED_KEY, new Uint8Array(0), { ifNoneMatch: '*' }).catch(() => {})
}

/** The tag named `name`, or null if there is none. `InvalidNameError` for a malformed name. */
export async function getTag(ctx: RepoContext, name: string): Promise<TagRecord | null> {
  validateName(name, 'tag name')
  return (await readTag(ctx.store, name))?.record ?? null
}

/**
 * Every tag, sorted by name (one prefix scan plus a read per tag). Keys that no valid name
 * encodes to are skipped; a tag object that cannot be decoded throws `CorruptObjectError`.
 */
export async function listTags(ctx: RepoContext): Promise<TagRecord[]> {
  return (await listTagsAt(ctx)).map((t) => t.record).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

/**
 * Every tag with the key it is stored at (one deleted between the listing and its read is left
 * out). A tag at the key of its exact name that is also at its case-folded key is the old copy an
 * interrupted `upgrade` left: listed once, at the folded key.
 */
async function listTagsAt(ctx: RepoContext): Promise<{ key: string; record: TagRecord }[]> {
  const objects = await readObjects(ctx.store, TAGS_PREFIX)
  const tags = objects.filter((o) => decodeName(o.key.slice(TAGS_PREFIX.length)) !== null).map((o) => ({ key: o.key, record: decodeTagRecord(o.key, o.body) }))
  const folded = new Set(tags.filter((t) => t.key === tagKey(t.record.name)).map((t) => t.record.name))
  return tags.filter((t) => t.key === tagKey(t.record.name) || !folded.has(t.record.name))
}

/**
 * Delete the tag `name` and return what it pointed at; `TagNotFoundError` if there is none. The
 * snapshot stays as long as something else keeps it; otherwise the next gc may free it.
 */
export async function deleteTag(ctx: RepoContext, name: string): Promise<TagRecord> {
  validateName(name, 'tag name')
  const tag = await readTag(ctx.store, name)
  if (!tag) throw new TagNotFoundError({ name })
  // Both keys a tag of this exact name can be at (an interrupted `upgrade` leaves it at both).
  await ctx.store.delete([...new Set([tag.key, legacyTagKey(name)])])
  return tag.record
}

/** The names of the tags on each snapshot (from one {@link listTags}), names sorted. */
export async function tagsBySnapshot(ctx: RepoContext): Promise<Map<SnapshotId, string[]>> {
  const out = new Map<SnapshotId, string[]>()
  for (const t of await listTags(ctx)) {
    const names = out.get(t.snapshot)
    if (names) names.push(t.name)
    else out.set(t.snapshot, [t.name])
  }
  return out
}
