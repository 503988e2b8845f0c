import { InvalidArgumentError, Repository, type ObjectStore, type OperationOptions } from '@strata/core'
import { allowedStores, crossStoreOptions } from './allowed-stores.js'
import { ExitCode } from './exit-codes.js'
import type { CliIo } from './io.js'
import { toJson } from './json.js'
import { progressDisplay, type ProgressDisplay } from './progress-bar.js'
import { STORE_ENV, openStore } from './store-location.js'

/** The options every command accepts (declared once, on the program). */
export interface GlobalOptions {
  store?: string
  json?: boolean
  quiet?: boolean
  /** Stores cross-store fallbacks may open (`--allow-store`, repeatable; plus `STRATA_ALLOW_STORES`). */
  allowStore?: string[]
}

/**
 * What a command's action works with: the global options, the store and repository (opened on
 * demand, closed by `run` afterwards), and the three output channels — the result (stdout),
 * logs and progress (stderr).
 */
export class CommandContext {
  readonly io: CliIo
  readonly globals: GlobalOptions
  /**
   * The exit code of a command that succeeded but has news for scripts: an {@link ExitCode}
   * (`verify` found problems), or the code of the program `exec` ran, passed through.
   */
  exitCode: number = ExitCode.ok
  #stores: ObjectStore[] = []
  #emitted = false

  constructor(io: CliIo, globals: GlobalOptions) {
    this.io = io
    this.globals = globals
  }

  /** True with `--json`: the result is one JSON document, and logs are not printed. */
  get json(): boolean {
    return this.globals.json === true
  }

  /** The store location from `--store` or `STRATA_STORE`; `InvalidArgumentError` (a usage error) if neither is set. */
  storeSpec(): string {
    const spec = this.globals.store ?? this.io.env[STORE_ENV]
    if (spec === undefined || spec === '') {
      throw new InvalidArgumentError({
        argument: 'store',
        reason: `no store given: pass --store <dir|file:///dir|s3://bucket/prefix> or set ${STORE_ENV}`,
      })
    }
    return spec
  }

  /** Open the store (see `openStore`); it is closed when the command ends. */
  async openStore(opts: { create: boolean }): Promise<ObjectStore> {
    const store = await openStore(this.storeSpec(), opts)
    this.#stores.push(store)
    return store
  }

  /** Open the repository in the store: `NotARepositoryError` (exit 1, "run `strata init`") if there is none. */
  async repository(): Promise<Repository> {
    return Repository.open(await this.openStore({ create: false }), this.crossStoreOptions())
  }

  /** The allowlist and opener for stores reached through cross-store fallbacks; opened stores close with the command. */
  crossStoreOptions(): ReturnType<typeof crossStoreOptions> {
    return crossStoreOptions(allowedStores(this.globals.allowStore, this.io.env), (s) => void this.#stores.push(s))
  }

  /** A log line for people on stderr; silent with `--json` or `--quiet`. */
  log(line: string): void {
    if (this.json || this.globals.quiet) return
    this.io.stderr.write(line + '\n')
  }

  /**
   * Print the command's result, once: `json` as one document with `--json`, otherwise the lines
   * `human()` returns.
   */
  emit(json: unknown, human: () => readonly string[]): void {
    if (this.#emitted) throw new Error('a command printed its result twice')
    this.#emitted = true
    if (this.json) {
      this.io.stdout.write(toJson(json) + '\n')
      return
    }
    const lines = human()
    if (lines.length > 0) this.io.stdout.write(lines.join('\n') + '\n')
  }

  /**
   * Run one long operation under a progress bar labelled `label` (see {@link progress}): `run`
   * gets the options to spread into the operation's, and the bar is removed however it ends.
   */
  async withProgress<T>(label: string, run: (progress: OperationOptions) => Promise<T>): Promise<T> {
    const bar = this.progress(label)
    try {
      return await run(bar.onProgress ? { onProgress: bar.onProgress } : {})
    } finally {
      bar.stop()
    }
  }

  /** A progress bar on stderr, drawn only when stderr is a terminal and neither `--json` nor `--quiet` is set. */
  progress(label: string): ProgressDisplay {
    const enabled = this.io.stderr.isTTY === true && !this.json && !this.globals.quiet
    return progressDisplay(this.io.stderr, label, enabled)
  }

  /** Close every store this command opened. */
  async close(): Promise<void> {
    const stores = this.#stores
    this.#stores = []
    await Promise.allSettled(stores.map((s) => s.close?.()))
  }
}
