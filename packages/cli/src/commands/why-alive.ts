import type { Command } from 'commander'
import type { AliveReason } from '@strata/core'
import { duration, examples, type App } from '../app.js'
import { formatBytes, shortId } from '../render.js'
import { retentionOf, retentionOptions, type RetentionFlags } from '../retention-options.js'

/** `strata why-alive <snapshot|segment>`: the roots that keep an object from gc, each with its path. */
export function registerWhyAlive(parent: Command, app: App): void {
  const cmd = retentionOptions(
    parent
      .command('why-alive')
      .description("which roots (branch heads, bases and history; tags; holds; pins) keep a snapshot or segment from gc, and how — the question behind \"why didn't gc free my space?\"")
      .argument('<object>', 'snapshot id or prefix, segment id, or a snapshots/… or segments/… key')
      .option('--grace <duration>', 'the grace period gc would use (default 15m)', duration('--grace')),
  ).action(async (spec: string, opts: RetentionFlags & { grace?: number }, self: Command) => {
    const ctx = app.context(self)
    const repo = await ctx.repository()
    const retention = retentionOf(opts)
    const r = await repo.whyAlive(spec, { ...(retention ? { retention } : {}), ...(opts.grace !== undefined ? { graceMs: opts.grace } : {}) })
    ctx.emit(r, () => {
      const head = `${r.kind} ${r.id}${r.exists ? ` (${formatBytes(r.size ?? 0)}, written ${r.lastModified})` : ' (not in the store)'}`
      if (r.alive) return [`${head} is alive, kept by ${r.reasons.length} root${r.reasons.length === 1 ? '' : 's'}:`, ...r.reasons.map(reasonLine)]
      if (!r.exists) return [`${head}: nothing to keep`]
      return [`${head} is not kept by any root: gc frees it${r.graceUntil ? ` once the grace period ends (${r.graceUntil})` : ''}`]
    })
  })
  examples(cmd, 'strata why-alive 3f2a9c1e', 'strata why-alive segments/9c1e0b12… --json', 'strata why-alive 3f2a9c1e --keep-last 1 --keep-within 0   # after a gc with that retention?')
}

function reasonLine(r: AliveReason): string {
  const path = r.path.map((s, i) => `${i === 0 ? '' : ' → '}${s.via === 'fallback' ? 'falls back to ' : s.via === 'history' ? 'history ' : s.via === 'target' ? '' : `${s.via} `}${shortId(s.snapshot)}`).join('')
  return `  ${r.root.kind} ${r.root.name} (${r.root.key}): ${path}`
}
