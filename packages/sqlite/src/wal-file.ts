import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { endianness } from 'node:os'

/**
 * Reading SQLite's write-ahead log (`<db>-wal`) and its wal-index header (`<db>-shm`), as the
 * file format documentation describes them (https://sqlite.org/fileformat2.html#walformat,
 * https://sqlite.org/walformat.html).
 *
 * The WAL: a 32-byte header (magic 0x377f0682 or 0x377f0683 — the low bit selects big-endian
 * checksum words —, format version 3007000, page size, checkpoint sequence, salt-1, salt-2,
 * checksum over the first 24 bytes), then frames: a 24-byte frame header (page number; for a
 * commit frame the database size in pages after the commit, else 0; salt-1; salt-2; checksum)
 * and one page. Checksums are cumulative from the header through every frame. A frame counts only
 * if its salts equal the header's and its checksum matches; only frames up to the last valid
 * commit frame are committed.
 */

/** Bytes of the WAL header. */
export const WAL_HEADER_BYTES = 32
/** Bytes of a frame header. */
export const WAL_FRAME_HEADER_BYTES = 24
/** The WAL format version SQLite writes. */
export const WAL_FORMAT_VERSION = 3007000
const MAGIC_LE = 0x377f0682
const MAGIC_BE = 0x377f0683

/** A WAL header. */
export interface WalHeader {
  /** True for magic 0x377f0683: checksums are computed over big-endian words. */
  bigEndianChecksums: boolean
  pageSize: number
  checkpointSequence: number
  salt1: number
  salt2: number
}

/** The committed content of a WAL, as far as it can be trusted. */
export interface WalContent {
  /** The header, or null for an empty (0-byte) WAL. */
  header: WalHeader | null
  /** Frames up to and including the last valid commit frame (SQLite's `mxFrame`); 0 if none. */
  committedFrames: number
  /** The database size in pages recorded by the last valid commit frame; 0 if none. */
  databasePages: number
  /**
   * Page number → file offset of the page image (past its frame header) of the newest committed
   * frame holding that page. Pages past {@link databasePages} are left out (the database shrank).
   */
  pages: Map<number, number>
  /** Why the frame walk stopped: the end of the file, or the first frame that is not valid. */
  stop: 'end' | 'torn' | 'salt' | 'checksum' | 'invalid'
}

/** A WAL that cannot be read as one: the caller must not trust it. */
export interface WalUnreadable {
  unreadable: string
}

/** Bytes read per system call while walking frames. */
const READ_CHUNK_BYTES = 1024 * 1024

/**
 * Read the WAL at `path` for a database with `pageSize`-byte pages. Returns the committed
 * frames' newest page locations, or `{ unreadable }` when the file is missing or its header is
 * not a valid WAL header for this page size (bad magic, version, page size or header checksum).
 * Frames after the last valid commit frame — a torn write, a flipped byte, frames of an older
 * generation (other salts) — are ignored, as SQLite's recovery ignores them; `stop` says which.
 * Reads the frame headers and checksums the whole file, holding at most about 1 MiB at a time.
 */
export function readWal(path: string, pageSize: number): WalContent | WalUnreadable {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (e) {
    return { unreadable: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'the WAL file is missing' : `the WAL file cannot be opened (${(e as Error).message})` }
  }
  try {
    return walkFrames(fd, pageSize)
  } catch (e) {
    return { unreadable: `the WAL file cannot be read (${(e as Error).message})` }
  } finally {
    closeSync(fd)
  }
}

function walkFrames(fd: number, pageSize: number): WalContent | WalUnreadable {
  const size = fstatSync(fd).size
  if (size === 0) return { header: null, committedFrames: 0, databasePages: 0, pages: new Map(), stop: 'end' }
  if (size < WAL_HEADER_BYTES) return { unreadable: `the WAL file is ${size} bytes, shorter than its header` }
  const head = new Uint8Array(WAL_HEADER_BYTES)
  readFully(fd, head, 0)
  const header = parseWalHeader(head)
  if ('unreadable' in header) return header
  if (header.pageSize !== pageSize) return { unreadable: `the WAL header says ${header.pageSize}-byte pages, the database has ${pageSize}` }

  const frameBytes = WAL_FRAME_HEADER_BYTES + pageSize
  const sum = new WalChecksum(header.bigEndianChecksums)
  sum.update(head, 0, 24)
  const view = new DataView(head.buffer)
  if (sum.s1 !== view.getUint32(24) || sum.s2 !== view.getUint32(28)) return { unreadable: 'the WAL header checksum does not match' }

  const frames = Math.floor((size - WAL_HEADER_BYTES) / frameBytes)
  const chunkFrames = Math.max(1, Math.floor(READ_CHUNK_BYTES / frameBytes))
  const buf = new Uint8Array(chunkFrames * frameBytes)
  const bv = new DataView(buf.buffer)
  // Page → frame index of its newest image, valid only up to the last commit seen so far.
  const newest = new Map<number, number>()
  const pending: [number, number][] = []
  let committedFrames = 0
  let databasePages = 0
  let stop: WalContent['stop'] = (size - WAL_HEADER_BYTES) % frameBytes === 0 ? 'end' : 'torn'
  frames: for (let first = 0; first < frames; first += chunkFrames) {
    const n = Math.min(chunkFrames, frames - first)
    readFully(fd, buf.subarray(0, n * frameBytes), WAL_HEADER_BYTES + first * frameBytes)
    for (let i = 0; i < n; i++) {
      const o = i * frameBytes
      if (bv.getUint32(o + 8) !== header.salt1 || bv.getUint32(o + 12) !== header.salt2) {
        stop = 'salt'
        break frames
      }
      sum.update(buf, o, 8)
      sum.update(buf, o + WAL_FRAME_HEADER_BYTES, pageSize)
      if (sum.s1 !== bv.getUint32(o + 16) || sum.s2 !== bv.getUint32(o + 20)) {
        stop = 'checksum'
        break frames
      }
      const pageNo = bv.getUint32(o)
      if (pageNo === 0) {
        stop = 'invalid'
        break frames
      }
      pending.push([pageNo, first + i])
      const commitSize = bv.getUint32(o + 4)
      if (commitSize !== 0) {
        for (const [p, f] of pending) newest.set(p, f)
        pending.length = 0
        committedFrames = first + i + 1
        databasePages = commitSize
      }
    }
  }
  const pages = new Map<number, number>()
  for (const [p, f] of newest) if (p <= databasePages) pages.set(p, WAL_HEADER_BYTES + f * frameBytes + WAL_FRAME_HEADER_BYTES)
  return { header, committedFrames, databasePages, pages, stop }
}

/** Parse a 32-byte WAL header (its checksum is checked by {@link readWal}). */
export function parseWalHeader(head: Uint8Array): WalHeader | WalUnreadable {
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength)
  const magic = v.getUint32(0)
  if (magic !== MAGIC_LE && magic !== MAGIC_BE) return { unreadable: `the WAL magic is 0x${magic.toString(16)}, not 0x377f0682/3` }
  const version = v.getUint32(4)
  if (version !== WAL_FORMAT_VERSION) return { unreadable: `the WAL format version is ${version}, not ${WAL_FORMAT_VERSION}` }
  const rawSize = v.getUint32(8)
  return {
    bigEndianChecksums: magic === MAGIC_BE,
    pageSize: rawSize === 1 ? 65536 : rawSize,
    checkpointSequence: v.getUint32(12),
    salt1: v.getUint32(16),
    salt2: v.getUint32(20),
  }
}

/**
 * SQLite's WAL checksum: over 32-bit words x (big- or little-endian as the magic says),
 * `s1 += x[i] + s2; s2 += x[i+1] + s1`, modulo 2^32, cumulative across calls. Inputs are whole
 * numbers of 8-byte word pairs.
 */
export class WalChecksum {
  s1 = 0
  s2 = 0
  readonly #bigEndian: boolean

  constructor(bigEndian: boolean) {
    this.#bigEndian = bigEndian
  }

  /** Add `length` bytes of `bytes` from `offset` (a multiple of 8). */
  update(bytes: Uint8Array, offset: number, length: number): void {
    let s1 = this.s1
    let s2 = this.s2
    const end = offset + length
    if (this.#bigEndian) {
      for (let i = offset; i < end; i += 8) {
        s1 = (s1 + ((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) + s2) >>> 0
        s2 = (s2 + ((bytes[i + 4]! << 24) | (bytes[i + 5]! << 16) | (bytes[i + 6]! << 8) | bytes[i + 7]!) + s1) >>> 0
      }
    } else {
      for (let i = offset; i < end; i += 8) {
        s1 = (s1 + (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)) + s2) >>> 0
        s2 = (s2 + (bytes[i + 4]! | (bytes[i + 5]! << 8) | (bytes[i + 6]! << 16) | (bytes[i + 7]! << 24)) + s1) >>> 0
      }
    }
    this.s1 = s1
    this.s2 = s2
  }
}

/** The part of the wal-index header (`<db>-shm`) a change tracker checks. */
export interface WalIndexHeader {
  /** Incremented by SQLite with each committed transaction. */
  change: number
  /** Frames of the WAL that are committed (`mxFrame`). */
  maxFrame: number
  /** Database size in pages after the last commit. */
  databasePages: number
  /** The salts of the current WAL generation; they change whenever the WAL restarts. */
  salt1: number
  salt2: number
}

const SHM_HEADER_BYTES = 48
const SHM_VERSION = 3007000

/**
 * Read the wal-index header from the `-shm` file at `path`, or null if it is missing or not in a
 * consistent state: its two copies must be identical, initialised and of the known version.
 * Integers are in native byte order; the salts are copied from the WAL header.
 */
export function readWalIndexHeader(path: string): WalIndexHeader | null {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch {
    return null
  }
  try {
    const buf = new Uint8Array(2 * SHM_HEADER_BYTES)
    if (readSync(fd, buf, 0, buf.byteLength, 0) !== buf.byteLength) return null
    for (let i = 0; i < SHM_HEADER_BYTES; i++) if (buf[i] !== buf[SHM_HEADER_BYTES + i]) return null
    const v = new DataView(buf.buffer)
    const le = endianness() === 'LE'
    if (v.getUint32(0, le) !== SHM_VERSION || buf[12] !== 1) return null
    return {
      change: v.getUint32(8, le),
      maxFrame: v.getUint32(16, le),
      databasePages: v.getUint32(20, le),
      salt1: v.getUint32(32),
      salt2: v.getUint32(36),
    }
  } finally {
    closeSync(fd)
  }
}

/** Read `into.byteLength` bytes at `position`; throws on a short read (the file shrank under us). */
export function readFully(fd: number, into: Uint8Array, position: number): void {
  let got = 0
  while (got < into.byteLength) {
    const r = readSync(fd, into, got, into.byteLength - got, position + got)
    if (r === 0) throw new Error(`short read at offset ${position + got}`)
    got += r
  }
}
