import { execFile } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

const here = dirname(fileURLToPath(import.meta.url))
const ms = String.raw`[\d.]+ ms`

it('runs every case both ways and reports the comparison (small fixture; timings not asserted)', async () => {
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--conditions=source', '--import', 'tsx', join(here, '..', 'src', 'main.ts'), '--size-mib', '2', '--cases', '4'], (err, out, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(out),
    )
  })
  const lines = stdout.trim().split('\n')
  expect(lines[0]).toMatch(/^fixture: [\d.]+ MiB, \d+ pages of 4096 bytes$/)
  expect(lines[1]).toBe('4 test cases, each on its own copy of the fixture; all passed both ways')
  expect(lines[2]).toMatch(new RegExp(`^  file copy: ${ms} setup \\+ ${ms} run \\+ ${ms} teardown = ${ms}/case$`))
  expect(lines[3]).toMatch(new RegExp(`^  branch:    ${ms} setup \\+ ${ms} run \\+ ${ms} teardown = ${ms}/case$`))
  expect(lines[4]).toMatch(new RegExp(`^  branch one-time: import ${ms} \\+ open a live handle ${ms}$`))
  expect(lines[5]).toMatch(/^speed-up: [\d.]+x per case \(setup alone [\d.]+x\); [\d.]+x for the whole suite with the one-time costs$/)
  expect(lines[6]).toMatch(/^disk: [\d.]+ MiB per case as copies; one working file for the whole suite as branches$/)
  expect(lines[7]).toBe('ok')
})
