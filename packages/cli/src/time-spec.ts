import { InvalidArgumentError as InvalidOptionArgument } from 'commander'

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }

/**
 * Parse a point in time for an option: an ISO-8601 date or date-time (`2026-01-31`,
 * `2026-01-31T12:00:00Z`; without a zone it is local time, as `Date.parse` reads it) or an age
 * relative to `now()` — `30s`, `15m`, `2h`, `3d`, `1w` mean that long ago. Anything else is a
 * usage error naming the option.
 */
export function pointInTime(name: string, now: () => number = Date.now): (value: string) => Date {
  return (value: string) => {
    const v = value.trim()
    const rel = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$/.exec(v)
    if (rel) return new Date(now() - Number(rel[1]) * UNIT_MS[rel[2]!]!)
    if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v)) {
      const t = Date.parse(v)
      if (Number.isFinite(t)) return new Date(t)
    }
    // Commander's own error class: it becomes a usage error (exit 2) naming the option.
    throw new InvalidOptionArgument(`${name} must be an ISO date or time (2026-01-31, 2026-01-31T12:00:00Z) or an age like 30m, 2h, 3d, 1w`)
  }
}
