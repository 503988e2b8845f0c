import { hash } from 'node:crypto'
import { PAGE_HASH_BYTES } from './hash.js'

/**
 * Bytes of segment each run checksum covers, in the segments this build writes: large enough
 * that one hash call costs no more per byte than hashing a big buffer, small enough that a read
 * starting mid-segment (a lazy read, a deep chain, a by-reference snapshot) still covers most
 * runs whole.
 */
export const RUN_CHECKSUM_BYTES = 256 * 1024

/**
 * Checksums over a segment's bytes in fixed runs: run k covers bytes
 * `[k × runBytes, min((k + 1) × runBytes, length))` of the segment, and its checksum is the first
 * 16 bytes of SHA-256 over them. They are a property of the segment's bytes alone, so every
 * manifest that references the segment — whole, or only some of its slots, as a by-reference
 * materialize does — carries the same checksums without reading it. A read that covers a whole
 * run verifies it with one hash call instead of one per page; the pages' own hashes stay the
 * authority: a run that does not match is re-checked page by page, which names the bad page.
 */
export interface RunChecksums {
  /** Bytes per run; a multiple of the page size. */
  runBytes: number
  /** 16 bytes per run, in order: `ceil(length / runBytes)` of them. */
  hashes: Uint8Array
}

/** The number of runs of a segment of `length` bytes. */
export const runCount = (length: number, runBytes: number): number => Math.ceil(length / runBytes)

/** The run checksums of a whole segment's bytes. */
export function computeRunChecksums(segment: Uint8Array, runBytes = RUN_CHECKSUM_BYTES): RunChecksums {
  return { runBytes, hashes: runChecksumsWith(hash, segment, runBytes) }
}

/**
 * The checksum bytes of {@link computeRunChecksums}, with the hash function passed in:
 * self-contained (no closure, no import), because hashing threads run its source text.
 */
export function runChecksumsWith(sha: (algorithm: string, data: Uint8Array, encoding: 'buffer') => Uint8Array, segment: Uint8Array, runBytes: number): Uint8Array {
  const H = 16
  const n = Math.ceil(segment.byteLength / runBytes)
  const out = new Uint8Array(n * H)
  for (let k = 0; k < n; k++) out.set(sha('sha256', segment.subarray(k * runBytes, Math.min((k + 1) * runBytes, segment.byteLength)), 'buffer').subarray(0, H), k * H)
  return out
}

/**
 * The runs of a segment of `length` bytes that lie wholly inside bytes `[offset, offset + span)`:
 * for each, its start relative to `offset`, its length, and its index. Empty without checksums.
 */
export function runsWithin(runs: RunChecksums | undefined, length: number, offset: number, span: number): { start: number; length: number; index: number }[] {
  if (!runs) return []
  const out: { start: number; length: number; index: number }[] = []
  const end = Math.min(offset + span, length)
  for (let k = Math.ceil(offset / runs.runBytes); k * runs.runBytes < end; k++) {
    const from = k * runs.runBytes
    const to = Math.min(from + runs.runBytes, length)
    if (to > end) break
    out.push({ start: from - offset, length: to - from, index: k })
  }
  return out
}
