import {
  AbortedError,
  BranchExistsError,
  BranchNotFoundError,
  ChecksumMismatchError,
  ConflictError,
  CorruptObjectError,
  CorruptPageError,
  ERROR_CODES,
  FileError,
  FallbackCycleError,
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
  TagExistsError,
  TagNotFoundError,
  UnsafeStoreError,
  UnsupportedFormatError,
  UpgradeRequiredError,
  type PageNo,
} from '@strata/core'
import { fileErrorFrom } from '@strata/core/engine'
import { InvalidStateError, MergeConflictError, MergeRefusedError, UncommittedChangesError } from '@strata/sqlite'
import { CommanderError } from 'commander'
import { describe, expect, it } from 'vitest'
import { CLI_ERROR_CODES, CliError } from '../src/cli-error.js'
import { GENERIC_BUG_HINT, reportError, type ReportedCode } from '../src/error-report.js'

const SNAP = '3f2a9c1e0b7d4a5c8e6f1a2b3c4d5e6f'

function errno(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path, errno: -1 })
}

// One real error per code, as the engine or the CLI raises it. Typed over every code: a new code
// does not compile until it has a sample here, and so a rendering checked below.
const SAMPLES: Record<ReportedCode, () => unknown> = {
  STRATA_MISSING_PAGE: () => new MissingPageError({ branch: 'main', snapshot: SNAP, pageNo: 7 as PageNo, pageCount: 9, chain: [SNAP] }),
  STRATA_MISSING_OBJECT: () => new MissingObjectError({ key: `segments/${SNAP}`, referencedBy: `snapshot ${SNAP}` }),
  STRATA_CORRUPT_PAGE: () => new CorruptPageError({ snapshot: SNAP, pageNo: 3 as PageNo, key: `segments/${SNAP}`, expected: 'aa', actual: 'bb' }),
  STRATA_CORRUPT_OBJECT: () => new CorruptObjectError({ key: `snapshots/${SNAP}`, reason: 'bad magic' }),
  STRATA_CHECKSUM_MISMATCH: () => new ChecksumMismatchError({ snapshot: SNAP, expected: 'aa', actual: 'bb', operation: 'export' }),
  STRATA_UPGRADE_REQUIRED: () => new UpgradeRequiredError({ store: 'file:///srv/data', found: '1.0', current: '2.0', operation: 'commit' }),
  STRATA_UNSUPPORTED_FORMAT: () => new UnsupportedFormatError({ key: 'strata.format', found: '9', supported: '1' }),
  STRATA_CONFLICT: () => new ConflictError({ key: 'refs/main', condition: 'if-match', branch: 'main' }),
  STRATA_NOT_A_REPOSITORY: () => new NotARepositoryError({ store: 'file:///srv/none' }),
  STRATA_REPOSITORY_EXISTS: () => new RepositoryExistsError({ store: 'file:///srv/data', storeId: 'f00d' }),
  STRATA_INVALID_NAME: () => new InvalidNameError({ name: 'a b', reason: 'spaces are not allowed' }),
  STRATA_INVALID_KEY: () => new InvalidKeyError({ key: '../x', reason: 'escapes the store' }),
  STRATA_BRANCH_NOT_FOUND: () => new BranchNotFoundError({ name: 'nope' }),
  STRATA_BRANCH_EXISTS: () => new BranchExistsError({ name: 'dev', existing: 'dev' }),
  STRATA_SNAPSHOT_NOT_FOUND: () => new SnapshotNotFoundError({ ref: 'beef' }),
  STRATA_PROTECTED_BRANCH: () => new ProtectedBranchError({ name: 'main', operation: 'deleted' }),
  STRATA_MERGE_CONFLICT: () => new MergeConflictError({ source: 'feature', target: 'main', base: SNAP, conflicts: [] }),
  STRATA_MERGE_REFUSED: () => new MergeRefusedError({ source: 'feature', target: 'main', reason: 'foreign_key_check failed', problems: ['orders row 3: parent 9 missing'] }),
  STRATA_INVALID_DATABASE: () => new InvalidDatabaseError({ path: 'notes.txt', reason: 'file is not a database' }),
  STRATA_INVALID_ARGUMENT: () => new InvalidArgumentError({ argument: 'store', reason: 'unsupported store URL "ftp://x"' }),
  STRATA_FALLBACK_CYCLE: () => new FallbackCycleError({ snapshot: SNAP, chain: [SNAP, SNAP] }),
  STRATA_STORE_NOT_ALLOWED: () => new StoreNotAllowedError({ url: 's3://base/prod', snapshot: SNAP, reason: 'no store is on the allowlist' }),
  STRATA_STORE_ERROR: () => new StoreError({ operation: 'get', key: 'refs/main', store: 's3://b/p', retryable: false }, { cause: new Error('AccessDenied') }),
  STRATA_ABORTED: () => new AbortedError({ operation: 'export' }),
  STRATA_UNCOMMITTED_CHANGES: () => new UncommittedChangesError({ branch: 'dev', operation: 'close' }),
  STRATA_INVALID_STATE: () => new InvalidStateError({ operation: 'commit', reason: 'a SQL transaction is open' }),
  STRATA_UNSAFE_STORE: () => new UnsafeStoreError({ store: 'file:///srv/nfs', createOnly: 'enforced', replaceIfVersion: 'failed' }),
  STRATA_TAG_EXISTS: () => new TagExistsError({ name: 'v1', existing: 'v1', snapshot: SNAP }),
  STRATA_TAG_NOT_FOUND: () => new TagNotFoundError({ name: 'v9' }),
  STRATA_USAGE: () => new CommanderError(1, 'commander.missingArgument', "error: missing required argument 'target'"),
  STRATA_SQL_ERROR: () => new CliError('STRATA_SQL_ERROR', 'statement 2 failed: no such table: nope; nothing was committed'),
  STRATA_EXEC_FAILED: () => new CliError('STRATA_EXEC_FAILED', 'cannot run "nope": it is not on PATH'),
  STRATA_INTEGRITY_CHECK_FAILED: () => new CliError('STRATA_INTEGRITY_CHECK_FAILED', 'out.db was written but fails PRAGMA integrity_check: row 3 missing'),
  STRATA_FILE_ERROR: () => new FileError({ path: '/nonexistent/dir', problem: 'missing-directory', errno: 'ENOENT' }),
  STRATA_INTERNAL: () => new TypeError('x is undefined'),
}

describe('every error code renders what was wrong and what to do', () => {
  it('covers every code of the engine and the CLI', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual([...new Set([...ERROR_CODES, ...CLI_ERROR_CODES])].sort())
  })

  for (const [code, make] of Object.entries(SAMPLES) as [ReportedCode, () => unknown][]) {
    it(code, () => {
      const r = reportError(make(), 'strata export')
      expect(r.json.code).toBe(code)
      const text = r.lines.join('\n')
      if (code === 'STRATA_INTERNAL') {
        expect(text).toContain(GENERIC_BUG_HINT)
        return
      }
      expect(text).not.toContain(GENERIC_BUG_HINT)
      // What to do: a hint line, a command named in the message, or the Try line of a usage error.
      const says = r.lines.some((l) => l.startsWith('hint: ') || l.startsWith('Try: ')) || /`strata /.test(r.json.message)
      expect(says, text).toBe(true)
      // What was wrong, with the value: some string in the error's data appears in the message.
      const values = Object.values(r.json.data).filter((v): v is string => typeof v === 'string' && v.length > 0)
      if (code !== 'STRATA_USAGE' && values.length > 0) expect(values.some((v) => r.json.message.includes(v)), text).toBe(true)
    })
  }
})

describe('raw file-system errors', () => {
  it('name the directory that is missing, not the temporary file, and exit 2', () => {
    const e = fileErrorFrom(errno('ENOENT', 'open', '/nonexistent/dir/.x.db.strata-0a1b2c.tmp'), '/nonexistent/dir/x.db', { creating: true })!
    expect(e.message).toBe('directory /nonexistent/dir does not exist')
    expect(e.data).toMatchObject({ path: '/nonexistent/dir', problem: 'missing-directory', errno: 'ENOENT' })
    expect(reportError(e, 'strata export')).toMatchObject({ exitCode: 2, lines: [e.message.replace(/^/, 'strata: '), expect.stringMatching(/^hint: create the directory/), 'Try: strata export --help'] })
  })

  it('an untranslated one still names its path and what to do', () => {
    const r = reportError(errno('EACCES', 'open', '/srv/locked/out.db'), 'strata export')
    expect(r).toMatchObject({ exitCode: 2, json: { code: 'STRATA_FILE_ERROR', message: '/srv/locked/out.db: permission denied', data: { problem: 'permission-denied' } } })
  })

  it('a full disk exits 1, with what to do', () => {
    const r = reportError(errno('ENOSPC', 'write', '/mnt/small/out.db'), 'strata export')
    expect(r).toMatchObject({ exitCode: 1, json: { code: 'STRATA_FILE_ERROR', data: { problem: 'disk-full', path: '/mnt/small/out.db' } } })
    expect(r.json.hint).toMatch(/free space/)
  })

  it('a store that failed on a full disk says so in its hint', () => {
    const e = new StoreError({ operation: 'put', key: 'segments/x', store: 'file:///mnt/small', retryable: false }, { cause: errno('ENOSPC', 'write', '/mnt/small/.tmp/x') })
    expect(reportError(e, 'strata import').json.hint).toMatch(/free space/)
  })
})

describe('hint codes: the engine says what the caller may do, the CLI names the flag', () => {
  it('overwrite, force, allow-store, unsafe-no-cas', () => {
    const exists = reportError(new InvalidArgumentError({ argument: 'output path', reason: 'out.db already exists' }, { hint: 'overwrite' }), 'strata export')
    expect(exists.json.hint).toBe('pass --overwrite to replace it, or choose another path')
    expect(exists.json.message).not.toMatch(/--/)
    const notAllowed = reportError(new StoreNotAllowedError({ url: 's3://new/prod', reason: 'it is not on the allowlist' }, { hint: 'allow-store' }), 'strata repoint')
    expect(notAllowed.json.message).toBe('cannot open store s3://new/prod: it is not on the allowlist')
    expect(notAllowed.json.hint).toContain('--allow-store s3://new/prod')
    expect(reportError(new InvalidArgumentError({ argument: 'snapshot', reason: 'x' }, { hint: 'force' }), 'strata reset').json.hint).toMatch(/--force/)
  })
})
