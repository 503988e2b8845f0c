import type { LiveDatabase } from '../sqlite-types.js'

type AnyFn = (...args: unknown[]) => unknown
type Translate = (e: unknown) => unknown

/**
 * Make the SQLite errors of `db` readable: every method that runs SQL (`prepare`d statements'
 * `run`/`get`/`all`/`iterate`, `exec`, `pragma`, `transaction` functions) rethrows what
 * `translate` makes of an error. The database object stays the same better-sqlite3 `Database`
 * (the methods are replaced on the instance); the cost is one extra call frame per call.
 */
export function translateErrors(db: LiveDatabase, translate: Translate): void {
  const d = db as unknown as Record<string, AnyFn>
  const proto = Object.getPrototypeOf(db) as Record<string, AnyFn>
  d.prepare = guarded(proto.prepare!, db, translate, (stmt) => guardStatement(stmt as Record<string, AnyFn>, translate))
  d.exec = guarded(proto.exec!, db, translate)
  d.pragma = guarded(proto.pragma!, db, translate)
  d.transaction = (fn: unknown) => {
    const t = proto.transaction!.call(db, fn) as AnyFn & Record<string, AnyFn>
    const out = guarded(t, undefined, translate) as AnyFn & Record<string, AnyFn>
    for (const k of ['deferred', 'immediate', 'exclusive']) out[k] = guarded(t[k]!, undefined, translate)
    return out
  }
}

function guarded(fn: AnyFn, self: unknown, translate: Translate, after?: (r: unknown) => unknown): AnyFn {
  return function (this: unknown, ...args: unknown[]) {
    let r: unknown
    try {
      r = fn.apply(self ?? this, args)
    } catch (e) {
      throw translate(e)
    }
    return after ? after(r) : r
  }
}

function guardStatement(stmt: Record<string, AnyFn>, translate: Translate): unknown {
  const proto = Object.getPrototypeOf(stmt) as Record<string, AnyFn>
  for (const k of ['run', 'get', 'all']) stmt[k] = guarded(proto[k]!, stmt, translate)
  stmt.iterate = guarded(proto.iterate!, stmt, translate, (it) => {
    const iter = it as Record<string, AnyFn>
    iter.next = guarded(iter.next!.bind(iter), iter, translate)
    return iter
  })
  return stmt
}
