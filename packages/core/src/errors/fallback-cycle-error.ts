import { StrataError } from './strata-error.js'

/** A chain of fallback pointers loops back on itself. */
export class FallbackCycleError extends StrataError {
  readonly code = 'STRATA_FALLBACK_CYCLE' as const
  constructor(readonly data: { snapshot: string; chain: string[] }) {
    super(`the fallback chain of snapshot ${data.snapshot} loops: ${data.chain.join(' → ')}; the store is damaged`)
  }
}
