import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { OperationOptions, Repository, Target } from '@strata/core'

/** A snapshot written out as a plain database file for SQLite to analyse. */
export interface SideFile {
  target: Target
  path: string
}

/** Temporary database files of snapshots, removed together by {@link SideFiles.dispose}. */
export class SideFiles {
  /** The directory holding the files. */
  readonly dir: string

  private constructor(dir: string) {
    this.dir = dir
  }

  /** A fresh directory under `workDir` (default: the OS temp directory). */
  static async create(workDir?: string): Promise<SideFiles> {
    return new SideFiles(await mkdtemp(join(workDir ?? tmpdir(), 'strata-diff-')))
  }

  /**
   * Export `target` to `<dir>/<name>.db` (every page, verified against the snapshot's checksum)
   * and set its header to rollback-journal mode, so a read-only connection opens it without a
   * `-wal` or `-shm` file. Bytes 18/19 are the only change: page ownership and content stay.
   */
  async write(repo: Repository, target: Target, name: string, opts: OperationOptions = {}): Promise<SideFile> {
    const path = join(this.dir, `${name}.db`)
    await repo.export(target.snapshot, path, opts)
    const fh = await open(path, 'r+')
    try {
      const header = Buffer.alloc(2)
      await fh.read(header, 0, 2, 18)
      if (header[0] === 2 || header[1] === 2) await fh.write(Buffer.from([1, 1]), 0, 2, 18)
    } finally {
      await fh.close()
    }
    return { target, path }
  }

  /** Remove every file. Idempotent. */
  async dispose(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true })
  }
}
