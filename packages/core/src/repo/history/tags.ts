import { TagExistsError, TagNotFoundError, isStrataError } from '../../errors/index.js'
import type { SnapshotId } from '../../format/ids.js'
import { TAGS_PREFIX, tagKey } from '../../format/keys.js'
import { decodeName, foldName, validateName } from '../../format/names.js'
import { decodeTagRecord, encodeTagRecord, type TagRecord } from '../../format/tag-record.js'
import { type RepoContext, nowIso } from '../read/context.js'
import { resolveTarget } from '../branches/resolve-target.js'

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
 * The case check lists the tags first; two people creating case twins at the same instant can
 * both succeed (the exact-name race is settled by the create-only write).
 */
export async function createTag(ctx: RepoContext, name: string, spec: string, opts: CreateTagOptions = {}): Promise<TagRecord> {
  validateName(name, 'tag name')
  const target = await resolveTarget(ctx, spec)
  const folded = foldName(name)
  for (const existing of await listTags(ctx)) {
    if (foldName(existing.name) === folded) throw new TagExistsError({ name, existing: existing.name, snapshot: existing.snapshot })
  }
  const record: TagRecord = { name, snapshot: target.snapshot, createdAt: nowIso(ctx), message: opts.message ?? '' }
  try {
    await ctx.store.put(tagKey(name), encodeTagRecord(record), { ifNoneMatch: '*' })
  } catch (e) {
    if (!isStrataError(e, 'STRATA_CONFLICT')) throw e
    const other = await getTag(ctx, name)
    throw new TagExistsError({ name, existing: name, snapshot: other?.snapshot ?? '' })
  }
  return record
}

/** The tag named `name`, or null if there is none. `InvalidNameError` for a malformed name. */
export async function getTag(ctx: RepoContext, name: string): Promise<TagRecord | null> {
  validateName(name, 'tag name')
  const key = tagKey(name)
  const got = await ctx.store.get(key)
  return got ? decodeTagRecord(key, got.body) : null
}

/**
 * Every tag, sorted by name (one prefix scan plus a read per tag). Keys that no valid name
 * encodes to are skipped; a tag object that cannot be decoded throws `CorruptObjectError`.
 */
export async function listTags(ctx: RepoContext): Promise<TagRecord[]> {
  const keys: string[] = []
  for await (const o of ctx.store.list(TAGS_PREFIX)) {
    if (decodeName(o.key.slice(TAGS_PREFIX.length)) !== null) keys.push(o.key)
  }
  const records = await Promise.all(
    keys.map(async (key) => {
      const got = await ctx.store.get(key)
      // Deleted between the listing and the read.
      return got ? decodeTagRecord(key, got.body) : null
    }),
  )
  return records.filter((t): t is TagRecord => t !== null).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

/**
 * Delete the tag `name` and return what it pointed at; `TagNotFoundError` if there is none. The
 * snapshot stays as long as something else keeps it; otherwise the next gc may free it.
 */
export async function deleteTag(ctx: RepoContext, name: string): Promise<TagRecord> {
  const tag = await getTag(ctx, name)
  if (!tag) throw new TagNotFoundError({ name })
  await ctx.store.delete([tagKey(name)])
  return tag
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
