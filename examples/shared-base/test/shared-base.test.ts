import { execFile } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

const here = dirname(fileURLToPath(import.meta.url))

it('runs the shared-base workflow end to end, as `npm start` does', async () => {
  const env: NodeJS.ProcessEnv = { ...process.env }
  delete env.BASE_URL
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--conditions=source', '--import', 'tsx', join(here, '..', 'src', 'main.ts')], { cwd: join(here, '..'), env }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    )
  })
  expect(code, stderr).toBe(0)
  expect(stdout).toMatch(/dev: created alice\/migration from s3:\/\/team-base\/prod#main — stub [0-9a-f]{12} stacks on [0-9a-f]{12}; pinned in the base/)
  expect(stdout).toMatch(/dev: the chain reads [0-9a-f]{8}@local → [0-9a-f]{8}@local → [0-9a-f]{8}@s3:\/\/team-base\/prod/)
  expect(stdout).toMatch(/depends on store [0-9a-f-]{36} at s3:\/\/team-base\/prod \(ok\): [0-9a-f]{12} pinned/)
  expect(stdout).toContain('integrity ok, 25 priority orders')
  expect(stdout).toContain('the chain is now 1 level, local only')
  expect(stdout).toContain('removed 1 pin(s) from the base')
  expect(stdout).toContain('pins left in s3://team-base/prod: 0; main is still unchanged')
  expect(stdout.trim().split('\n').pop()).toBe('ok')
})
