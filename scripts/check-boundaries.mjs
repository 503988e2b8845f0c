#!/usr/bin/env node
// Enforces the package boundaries: dependencies flow cli → sqlite → core and s3 → core only.
// Core imports no other workspace package and neither the AWS SDK nor better-sqlite3.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const allowed = {
  core: { workspace: [], forbidden: ['better-sqlite3', '@aws-sdk/', 'commander', 'cli-progress'] },
  s3: { workspace: ['@strata/core'], forbidden: ['better-sqlite3', 'commander'] },
  sqlite: { workspace: ['@strata/core'], forbidden: ['@aws-sdk/', 'commander'] },
  cli: { workspace: ['@strata/core', '@strata/s3', '@strata/sqlite'], forbidden: [] },
}

const files = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : []
  })

const problems = []
for (const [pkg, rule] of Object.entries(allowed)) {
  for (const file of files(join(root, 'packages', pkg, 'src'))) {
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
      const spec = m[1]
      if (spec.startsWith('@strata/') && !rule.workspace.some((w) => spec === w || spec.startsWith(`${w}/`))) {
        problems.push(`${relative(root, file)}: @strata/${pkg} must not import ${spec}`)
      }
      if (rule.forbidden.some((f) => spec === f || spec.startsWith(f))) {
        problems.push(`${relative(root, file)}: @strata/${pkg} must not import ${spec}`)
      }
    }
  }
}
if (problems.length > 0) {
  console.error(problems.join('\n'))
  process.exit(1)
}
console.log('package boundaries: ok')
