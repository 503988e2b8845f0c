/** Progress of a long operation, reported as it goes. `total` may be 0 when unknown. */
export interface Progress {
  /** What is happening now, e.g. `upload`, `fetch`, `write`, `mark`, `sweep`. */
  phase: string
  /** Units done in this phase (pages, objects or bytes, as the phase says). */
  loaded: number
  /** Units in this phase. */
  total: number
}

/** A callback that receives progress reports. It must not throw. */
export type ProgressListener = (p: Progress) => void

/** Options every long operation accepts. */
export interface OperationOptions {
  /** Called as the operation progresses. */
  onProgress?: ProgressListener
  /** Abort the operation; what it already wrote stays consistent (at worst unreferenced garbage). */
  signal?: AbortSignal
}
