import { StoreError } from '../errors/index.js'
import type { ListOptions, ObjectInfo, ObjectStore } from '../store/object-store.js'
import { InterceptingStore } from './intercepting-store.js'
import { callOf } from './store-call.js'
import type { StoreCall, StoreOperation } from './store-call.js'

/**
 * When a {@link FaultyStore} fails a call. Each rule counts the calls it matches on its own.
 *
 * @example Fail the second segment upload after it has landed:
 * `{ operation: 'put', keyPrefix: 'segments/', nth: 2, when: 'after' }`
 */
export interface FaultRule {
  /** The operation the rule watches, or `'*'` for every operation. */
  operation: StoreOperation | '*'
  /** Only calls naming a key (list: prefix; delete: any key) that starts with this match. */
  keyPrefix?: string
  /** Fail the nth matching call, 1-based. Default 1. */
  nth?: number
  /** Fail this many matching calls from the nth on. Default 1; `Infinity` fails every one. */
  times?: number
  /**
   * `'before'` (default): the call never reaches the inner store. `'after'`: the inner call
   * completes (a put's bytes land, a list is fully read), then the error is thrown anyway.
   */
  when?: 'before' | 'after'
  /** The error to throw. Default: a retryable `StoreError` naming the operation and key. */
  error?: (call: StoreCall) => unknown
}

/** Options of {@link FaultyStore}. */
export interface FaultyStoreOptions {
  /** Initial fault rules. */
  rules?: FaultRule[]
  /** Delay added before every call, in ms, or a function choosing it per call. Default 0. */
  latencyMs?: number | ((call: StoreCall) => number)
}

/** A fault a {@link FaultyStore} injected. */
export interface InjectedFault {
  /** The call that failed. */
  call: StoreCall
  /** Whether the inner store saw the call. */
  when: 'before' | 'after'
  /** The rule that fired. */
  rule: FaultRule
}

/**
 * An `ObjectStore` wrapper that injects failures and latency by rule, for fault and timeout
 * tests. Calls no rule matches are forwarded unchanged (after the latency).
 */
export class FaultyStore extends InterceptingStore {
  /** Delay added before every call; may be changed between calls. */
  latencyMs: number | ((call: StoreCall) => number)
  /** Every fault injected so far, in order. */
  readonly injected: InjectedFault[] = []
  readonly #rules = new Map<FaultRule, number>()

  /** Wrap `inner`. */
  constructor(inner: ObjectStore, options: FaultyStoreOptions = {}) {
    super(inner)
    this.latencyMs = options.latencyMs ?? 0
    for (const rule of options.rules ?? []) this.addRule(rule)
  }

  /** Start applying `rule` (its count starts at zero). Returns a function that removes it. */
  addRule(rule: FaultRule): () => void {
    this.#rules.set(rule, 0)
    return () => {
      this.#rules.delete(rule)
    }
  }

  /** Remove every rule. */
  clearRules(): void {
    this.#rules.clear()
  }

  /**
   * Forward `list` as a stream (unlike the base, which reads it whole): a rule fails it before
   * the first object or after the last one has been yielded.
   */
  override async *list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo> {
    const call = callOf('list', prefix)
    const { before, after } = this.#match(call)
    await this.#delay(call)
    if (before) throw this.#inject(call, before, 'before')
    yield* this.inner.list(prefix, opts)
    if (after) throw this.#inject(call, after, 'after')
  }

  /** Delay, then fail the call before or after forwarding it when a rule says so. */
  protected async intercept<T>(call: StoreCall, forward: () => Promise<T>): Promise<T> {
    const { before, after } = this.#match(call)
    await this.#delay(call)
    if (before) throw this.#inject(call, before, 'before')
    const result = await forward()
    if (after) throw this.#inject(call, after, 'after')
    return result
  }

  /** Count `call` against every rule it matches; return the first firing rule of each kind. */
  #match(call: StoreCall): { before?: FaultRule; after?: FaultRule } {
    const fired: { before?: FaultRule; after?: FaultRule } = {}
    for (const [rule, seen] of this.#rules) {
      if (rule.operation !== '*' && rule.operation !== call.operation) continue
      const prefix = rule.keyPrefix
      if (prefix !== undefined && !call.keys.some((k) => k.startsWith(prefix))) continue
      const n = seen + 1
      this.#rules.set(rule, n)
      const nth = rule.nth ?? 1
      if (n < nth || n >= nth + (rule.times ?? 1)) continue
      const when = rule.when ?? 'before'
      fired[when] ??= rule
    }
    return fired
  }

  #inject(call: StoreCall, rule: FaultRule, when: 'before' | 'after'): unknown {
    this.injected.push({ call, when, rule })
    if (rule.error) return rule.error(call)
    return new StoreError(
      { operation: call.operation, key: call.key, store: this.url, retryable: true },
      { cause: new Error(`injected fault (${when} the ${call.operation})`) },
    )
  }

  async #delay(call: StoreCall): Promise<void> {
    const ms = typeof this.latencyMs === 'function' ? this.latencyMs(call) : this.latencyMs
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms))
  }
}
