import { Option, type Command } from 'commander'
import { BranchNotFoundError } from '@strata/core'
import { examples, positiveInt, type App } from '../app.js'
import { graphForest, grouped, readBranchGraph, type BranchGraph, type CollapsedGroup, type GraphBranch, type GraphNode, type GraphParent } from '../branch-graph.js'
import { toJson } from '../json.js'
import { formatBytes, shortId, table } from '../render.js'

type GraphFormat = 'text' | 'dot' | 'json'

interface GraphOptions {
  format: GraphFormat
  branch?: string[]
  collapse: number
  all?: boolean
}

/**
 * `strata graph [--format text|dot|json] [--branch NAME…] [--collapse N | --all]`: the branch
 * tree — which branch stacks on which — with each branch's chain, own bytes, age, TTL, hold and
 * cross-store base. Manifests only; no page is read.
 */
export function registerGraph(parent: Command, app: App): void {
  const cmd = parent
    .command('graph')
    .description('the branch tree: what each branch stacks on, its own bytes, age, expiry, hold and cross-store base')
    .addOption(new Option('--format <format>', 'text (a tree), dot (Graphviz) or json').choices(['text', 'dot', 'json']).default('text'))
    .option('--branch <name>', 'focus: only this branch, what it stacks on and what stacks on it (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--collapse <n>', 'show more than n sibling leaves with one name stem (ci-1, ci-2, …) as one line', positiveInt('--collapse'), 8)
    .option('--all', 'collapse nothing')
    .action(async (opts: GraphOptions, self: Command) => {
      const ctx = app.context(self)
      const repo = await ctx.repository()
      let graph = await readBranchGraph(repo)
      const focus = opts.branch ?? []
      if (focus.length > 0) graph = focusOn(graph, focus)
      const forest = graphForest(graph)
      const collapseAbove = opts.all ? Infinity : opts.collapse
      const format: GraphFormat = ctx.json ? 'json' : opts.format
      if (format === 'json') {
        const doc = { ...graph, roots: forest.map(treeOf) }
        ctx.emit(doc, () => [toJson(doc)])
        return
      }
      const now = Date.parse(graph.readAt)
      const protect = new Set(focus)
      ctx.emit(null, () => (format === 'dot' ? dotLines(forest, now, collapseAbove, protect) : textLines(forest, now, collapseAbove, protect)))
    })
  examples(
    cmd,
    'strata graph',
    'strata graph --branch feature/login',
    'strata graph --format dot | dot -Tsvg > branches.svg',
    'strata graph --json',
  )
}

/** A forest node as data: ids and labels, nested; the branches' figures are in `branches`. */
function treeOf(n: GraphNode): { id: string; kind: GraphNode['kind']; label: string; children: unknown[] } {
  return { id: n.id, kind: n.kind, label: n.label, children: n.children.map(treeOf) }
}

/** Keep the focused branches, every branch they stack on, and every branch stacked on them. */
function focusOn(graph: BranchGraph, names: readonly string[]): BranchGraph {
  const byName = new Map(graph.branches.map((b) => [b.name, b]))
  for (const n of names) if (!byName.has(n)) throw new BranchNotFoundError({ name: n })
  const keep = new Set<string>()
  for (const n of names) {
    for (let b: GraphBranch | undefined = byName.get(n); b && !keep.has(b.name); b = b.parent?.kind === 'branch' ? byName.get(b.parent.branch) : undefined) keep.add(b.name)
  }
  const children = new Map<string, GraphBranch[]>()
  for (const b of graph.branches) if (b.parent?.kind === 'branch') children.set(b.parent.branch, [...(children.get(b.parent.branch) ?? []), b])
  const stack = [...names]
  while (stack.length > 0) {
    for (const c of children.get(stack.pop()!) ?? []) {
      if (!keep.has(c.name)) {
        keep.add(c.name)
        stack.push(c.name)
      }
    }
  }
  return { ...graph, branches: graph.branches.filter((b) => keep.has(b.name)) }
}

/** `45s`, `12m`, `3h`, `2d`. */
function span(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 90) return `${s}s`
  if (s < 90 * 60) return `${Math.round(s / 60)}m`
  if (s < 36 * 3600) return `${Math.round(s / 3600)}h`
  return `${Math.round(s / 86400)}d`
}

function expiry(expiresAt: string | null, now: number): string {
  if (!expiresAt) return ''
  const left = Date.parse(expiresAt) - now
  return left > 0 ? `in ${span(left)}` : `expired ${span(-left)} ago`
}

function baseText(p: GraphParent | null): string {
  if (!p) return 'standalone'
  if (p.kind === 'branch') return `${p.branch}@${shortId(p.snapshot)}${p.atHead ? '' : ' (older)'}`
  if (p.kind === 'deleted') return `${p.branchName ?? '?'}@${shortId(p.snapshot)} (deleted)`
  return `${p.store.url}#${shortId(p.snapshot)} ${p.pinned === true ? 'pinned' : p.pinned === false ? 'UNPINNED' : 'pin unknown'}`
}

/** `main@a4eddec84db6 → main@b5b46c933e9a`; a level in another store as `<url>#<snapshot>`. */
function chainText(b: GraphBranch): string {
  return b.chain.map((l) => (l.store ? `${l.store}#${shortId(l.snapshot)}` : `${l.branch ?? '?'}@${shortId(l.snapshot)}`)).join(' → ')
}

/** `3` or `2-5`: the smallest and largest of `values`, each shown with `show`. */
function range(values: readonly number[], show: (n: number) => string): string {
  const lo = show(Math.min(...values))
  const hi = show(Math.max(...values))
  return lo === hi ? lo : `${lo}-${hi}`
}

function textLines(forest: readonly GraphNode[], now: number, above: number, protect: ReadonlySet<string>): string[] {
  const rows: unknown[][] = []
  const walk = (items: readonly (GraphNode | CollapsedGroup)[], prefix: string, top: boolean): void => {
    items.forEach((item, i) => {
      const last = i === items.length - 1
      const lead = top ? '' : prefix + (last ? '└─ ' : '├─ ')
      const next = top ? '' : prefix + (last ? '   ' : '│  ')
      if ('stem' in item) {
        const bs = item.branches
        const ages = bs.map((b) => now - Date.parse(b.createdAt))
        const expiring = bs.filter((b) => b.expiresAt !== null)
        const expired = expiring.filter((b) => Date.parse(b.expiresAt!) <= now).length
        rows.push([
          `${lead}${item.stem}* (${bs.length} branches)`,
          formatBytes(bs.reduce((n, b) => n + b.ownBytes, 0)),
          range(bs.map((b) => b.chainDepth), String),
          range(ages, span),
          expiring.length > 0 ? `${expiring.length} with TTL${expired ? `, ${expired} expired` : ''}` : '',
          bs.some((b) => b.held) ? `${bs.filter((b) => b.held).length} held` : '',
          '(--all or --branch to list them)',
        ])
        return
      }
      const b = item.branch
      if (!b) rows.push([`${lead}${item.label}`, '', '', '', '', '', ''])
      else {
        rows.push([
          `${lead}${b.name}`,
          b.error ? '?' : formatBytes(b.ownBytes),
          b.chainDepth,
          span(now - Date.parse(b.createdAt)),
          expiry(b.expiresAt, now),
          b.held ? 'held' : '',
          b.error ? `unreadable: ${b.error}` : baseText(b.parent),
        ])
      }
      walk(grouped(item.children, above, protect), next, false)
    })
  }
  for (const root of forest) walk([root], '', true)
  if (rows.length === 0) return ['(no branches)']
  const lines = table(['BRANCH', 'OWN', 'DEPTH', 'AGE', 'EXPIRES', 'HOLD', 'STACKS ON'], rows).map((l) => l.trimEnd())
  // The tree shows who stacks on whom; for focused branches, spell out the snapshots a read walks.
  const focused = forest.flatMap(function all(n: GraphNode): GraphNode[] {
    return [n, ...n.children.flatMap(all)]
  }).filter((n) => n.branch && protect.has(n.branch.name))
  for (const n of focused) lines.push('', `chain of ${n.branch!.name}: ${chainText(n.branch!)}`)
  return lines
}

function dotLines(forest: readonly GraphNode[], now: number, above: number, protect: ReadonlySet<string>): string[] {
  const q = (s: string): string => JSON.stringify(s)
  const out = ['digraph strata {', '  rankdir=LR;', '  node [shape=box, fontname="monospace", fontsize=10];', '  edge [fontname="monospace", fontsize=9];']
  const visit = (node: GraphNode): void => {
    const b = node.branch
    if (!b) out.push(`  ${q(node.id)} [label=${q(node.label)}, shape=${node.kind === 'store' ? 'folder' : 'note'}, style=dashed];`)
    else {
      const extra = [b.held ? 'held' : '', expiry(b.expiresAt, now) ? `expires ${expiry(b.expiresAt, now)}` : ''].filter(Boolean).join(', ')
      const style = [b.held ? 'bold' : '', b.expiresAt ? 'dashed' : ''].filter(Boolean).join(',')
      const label = `${b.name}\nown ${formatBytes(b.ownBytes)}, depth ${b.chainDepth}\n${span(now - Date.parse(b.createdAt))} old${extra ? `, ${extra}` : ''}`
      out.push(`  ${q(node.id)} [label=${q(label)}${style ? `, style=${q(style)}` : ''}];`)
    }
    for (const item of grouped(node.children, above, protect)) {
      if ('stem' in item) {
        const id = `g:${node.id}/${item.stem}`
        const own = item.branches.reduce((n, x) => n + x.ownBytes, 0)
        out.push(`  ${q(id)} [label=${q(`${item.stem}* (${item.branches.length} branches)\nown ${formatBytes(own)}`)}, shape=box3d];`)
        out.push(`  ${q(node.id)} -> ${q(id)};`)
        continue
      }
      const p = item.branch?.parent
      const edge = p ? shortId(p.snapshot) + (p.kind === 'branch' && !p.atHead ? ' (older)' : '') : ''
      out.push(`  ${q(node.id)} -> ${q(item.id)} [label=${q(edge)}${p?.kind === 'store' ? ', style=dashed' : ''}];`)
      visit(item)
    }
  }
  for (const root of forest) visit(root)
  out.push('}')
  return out
}
