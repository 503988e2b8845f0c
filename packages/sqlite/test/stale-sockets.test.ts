import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { sweepStaleSockets } from '../src/lazy/fetcher-thread.js'

/** A process that listens on a fetcher-named socket in `dir`, killed with SIGKILL: its socket stays behind. */
async function socketOfKilledProcess(dir: string): Promise<string> {
  const script = `const p=require('path').join(${JSON.stringify(dir)},'strata-vfs-'+process.pid+'-0123abcd.sock');require('net').createServer().listen(p,()=>console.log(p))`
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  const path = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()))
    child.once('error', reject)
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
  return path
}

describe('fetcher sockets left by killed processes', () => {
  let dir = ''
  let server: Server | null = null
  afterEach(() => {
    server?.close()
    server = null
    rmSync(dir, { recursive: true, force: true })
  })

  it("are removed; a live process's socket, a file that is not a socket and other names are kept", async () => {
    dir = mkdtempSync(join(tmpdir(), 'strata-sockets-'))
    const stale = await socketOfKilledProcess(dir)
    expect(existsSync(stale)).toBe(true)
    const live = join(dir, `strata-vfs-${process.pid}-89abcdef.sock`)
    server = createServer()
    await new Promise<void>((resolve) => server!.listen(live, resolve))
    const notSocket = join(dir, 'strata-vfs-999999999-00000000.sock')
    writeFileSync(notSocket, '')
    const other = join(dir, 'other-999999999.sock')
    writeFileSync(other, '')

    expect(await sweepStaleSockets(dir)).toEqual([stale])
    expect(existsSync(stale)).toBe(false)
    for (const kept of [live, notSocket, other]) expect(existsSync(kept)).toBe(true)
  })
})
