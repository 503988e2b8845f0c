/**
 * Pretty JSON that never fails: bigints become numbers (or strings when too large) and byte
 * arrays (Buffers included) become hex strings.
 */
export function toJson(value: unknown, indent = 2): string {
  return JSON.stringify(
    value,
    function (this: Record<string, unknown>, key: string, v: unknown) {
      // `this[key]` is the value before `toJSON` ran: Buffers would otherwise arrive as {type, data}.
      const raw = this[key]
      if (raw instanceof Uint8Array) return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('hex')
      if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()
      return v
    },
    indent,
  )
}

/** A row of SQL values for `--json`, with blobs as `{ "$blob": "<hex>" }` (as `strata sql --json` prints them). */
export function sqlRowJson(r: Readonly<Record<string, unknown>> | null): Record<string, unknown> | null {
  return r === null ? null : Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Uint8Array ? { $blob: Buffer.from(v).toString('hex') } : v]))
}
