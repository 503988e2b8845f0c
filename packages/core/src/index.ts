// The public API of @strata/core: what applications need to open a repository and work with it.
// Building blocks that @strata/sqlite and @strata/cli need beyond this live in `./engine.ts`
// (`@strata/core/engine`). Everything is exported by name: a rename here is a breaking change.

export { ERROR_CODES, type ErrorCode, type HintCode } from './errors/codes.js'
export {
  AbortedError,
  BranchExistsError,
  BranchNotFoundError,
  ChecksumMismatchError,
  ConflictError,
  CorruptObjectError,
  CorruptPageError,
  FallbackCycleError,
  FileError,
  InvalidArgumentError,
  InvalidDatabaseError,
  InvalidKeyError,
  InvalidNameError,
  MissingObjectError,
  MissingPageError,
  NotARepositoryError,
  ProtectedBranchError,
  RepositoryExistsError,
  SnapshotNotFoundError,
  StoreError,
  StoreNotAllowedError,
  StrataError,
  TagExistsError,
  TagNotFoundError,
  UnsafeStoreError,
  UnsupportedFormatError,
  UpgradeRequiredError,
  isStrataError,
  type FileProblem,
} from './errors/index.js'

export type { BranchId, SegmentId, SnapshotId } from './format/ids.js'
export { MAIN_BRANCH, validateName } from './format/names.js'
export type { PageCount, PageNo, PageSize } from './format/page.js'
export type { Fallback, MergeParents, SegmentRef, SnapshotManifest, SnapshotMeta } from './format/manifest.js'
export type { PageTable } from './format/page-table.js'
export type { HoldRecord } from './format/hold-record.js'
export type { PinRecord } from './format/pin-record.js'
export type { TagRecord } from './format/tag-record.js'
export { formatStoreRef, normalizeStoreUrl, parseStoreRef, type StoreRef } from './format/store-ref.js'

export type { ByteRange, GetOptions, GetResult, ListOptions, ObjectInfo, ObjectStore, PutOptions } from './store/object-store.js'
export { MAX_KEY_BYTES, compareKeys, isValidKey, validateKey, validatePrefix, validatePutOptions } from './store/keys.js'
export { LocalStore, isDeferredSyncKey, type LocalStoreOptions, type LocalStoreSync } from './store/local-store.js'
export { CachingStore, type CacheStats, type CachingStoreOptions } from './store/caching-store.js'
export { probeStore, type CasProbe, type ConcurrencySample, type ConditionSupport, type DoctorReport, type ProbeStoreOptions } from './store/doctor.js'

export { Repository } from './repo/repository.js'
export type { RepoContext, RepoSettings, RepositoryOptions } from './repo/read/context.js'
export type { Progress, ProgressListener, OperationOptions } from './repo/read/progress.js'
export type { ChainLevel, FallbackStoreResolver, ResolvedTable, StoreHandle, Target } from './repo/read/chain.js'
export { AllowlistResolver, openFileStore, type AllowlistOptions, type BaseLocation, type StoreOpener } from './repo/read/fallback-stores.js'
export type { PageChanges } from './repo/read/compare-tables.js'
export type { FirstPages } from './repo/read/read-hint.js'
export type { ResolveBranchOptions, ResolvedBranch } from './repo/branches/resolve-branch.js'
export type { ByteSink, ExportOptions, ExportResult, StreamExportResult } from './repo/read/export-snapshot.js'
export type { BranchInfo, CreateBranchOptions, CrossStoreSource } from './repo/branches/branches.js'
export type { CommitOptions, CommitResult, PageWrites } from './repo/write/commit.js'
export type { CommitWithRetryOptions, CommitWithRetryResult } from './repo/write/commit-with-retry.js'
export type { ImportOptions, ImportResult } from './repo/write/import-database.js'
export type { MaterializeOptions, MaterializeResult } from './repo/write/materialize.js'
export type { ResetOptions } from './repo/write/reset.js'
export { DEFAULT_GRACE_MS, DEFAULT_RETENTION, type Keyed, type RetentionPolicy } from './repo/reachability/roots.js'
export type { HoldOptions } from './repo/reachability/holds.js'
export type { CrossStoreDependency, CrossStoreLink, DependencyStatus } from './repo/cross-store/cross-store.js'
export type { HeldPin, PinInfo, PinSelector, PrunePinsOptions, PrunePinsResult } from './repo/cross-store/pins.js'
export type { RepointResult } from './repo/cross-store/repoint.js'
export type { PageDiff } from './repo/history/diff-pages.js'
export type { LogEntry, LogOptions } from './repo/history/log.js'
export type { PageRange } from './repo/history/page-map.js'
export type { SnapshotSummary } from './repo/history/show.js'
export type { CreateTagOptions } from './repo/history/tags.js'
export type { CompactOptions, CompactResult, CompactedBranch, CompactionPolicy, SkippedBranch } from './repo/lifecycle/compact.js'
export type { DeleteBranchOptions, DeleteBranchResult } from './repo/lifecycle/delete-branch.js'
export type { GcOptions, GcResult, ObjectTotals, SweepKind, SweptObject } from './repo/lifecycle/gc.js'
export type { BranchStats, KindStats, ObjectKindName, StatsOptions, StatsResult, StoreStats } from './repo/lifecycle/stats.js'
export type { IntegrityCheck, VerifyOptions, VerifyProblem, VerifyProblemCode, VerifyResult } from './repo/lifecycle/verify.js'
export type { AliveReason, AliveStep, WhyAliveOptions, WhyAliveResult } from './repo/lifecycle/why-alive.js'
export type { UpgradeResult } from './repo/lifecycle/upgrade.js'
