// @strata/core/engine: the building blocks @strata/sqlite and @strata/cli use beyond the public
// API of `@strata/core` — page hashing and page numbers, name encoding, resolved-table reads and
// page streaming over a repository's context. Exported by name; applications should not need it.

export { PAGE_HASH_BYTES, hashAtEqual, hashPage, toHex, fromHex } from './format/hash.js'
export { encodeName } from './format/names.js'
export { lockBytePage } from './format/page.js'
export { LOCK_PAGE_LEVEL, pageHashOf, locatePage, type PageLocation } from './repo/read/chain.js'
export { fetchPages, fetchPageRuns, type FetchedRun, type PageSink, type PageRunSink } from './repo/read/page-fetcher.js'
export { exportSnapshot, exportToSink, readDatabase, streamPages, type PageWindows } from './repo/read/export-snapshot.js'
export { fileErrorFrom, makeDirectory } from './store/local-paths.js'
export { createContext, openContext } from './repo/read/context.js'
export { assertNameFree } from './repo/branches/refs.js'
export { resolveTarget } from './repo/branches/resolve-target.js'

// The storage format, for tools and tests that read or write a store's objects directly.
export {
  BASES_PREFIX,
  BRANCHES_PREFIX,
  FORMAT_KEY,
  HOLDS_PREFIX,
  PINS_PREFIX,
  REFS_PREFIX,
  REF_INDEX_KEY,
  SEGMENTS_PREFIX,
  SNAPSHOTS_PREFIX,
  TAGS_PREFIX,
  baseStoreKey,
  branchHoldKey,
  branchKey,
  pinKey,
  legacyRefKey,
  refKey,
  segmentKey,
  snapshotHoldKey,
  snapshotKey,
  tagKey,
  legacyTagKey,
  TAGS_FOLDED_KEY,
  SWEEPS_ENDED_PREFIX,
} from './format/keys.js'
export { foldName } from './format/names.js'
export { newBranchId } from './format/ids.js'
export { decodeManifest, encodeManifest, manifestId, type EncodedManifest } from './format/manifest.js'
export { EMPTY_PAGE_TABLE, buildPageTable, type PageEntry } from './format/page-table.js'
export { decodeRef, encodeRef, type ReadHint, type HintedRun, type Ref, type RefOrigin } from './format/ref.js'
export { HINTED_PAGES, readHintFor, fetchHintedRuns, verifyHintedPages } from './repo/read/read-hint.js'
export { decodeBranchRecord, encodeBranchRecord, type BranchRecord } from './format/branch-record.js'
export { decodeTagRecord, encodeTagRecord } from './format/tag-record.js'
export { decodePinRecord, encodePinRecord } from './format/pin-record.js'
export { decodeHoldRecord, encodeHoldRecord } from './format/hold-record.js'
