import { Writable } from 'node:stream'
import type { CliIo, CliStream } from '../src/io.js'

/** A stream that keeps what is written to it. */
export class Capture extends Writable {
  text = ''
  isTTY: boolean
  columns = 100

  constructor(isTTY = false) {
    super()
    this.isTTY = isTTY
  }

  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.text += chunk.toString()
    done()
  }
}

/** An io that captures stdout and stderr; `tty` makes stderr claim to be a terminal. */
export function captureIo(env: Record<string, string | undefined> = {}, tty = false): CliIo & { stdout: Capture & CliStream; stderr: Capture & CliStream } {
  return { stdout: new Capture(), stderr: new Capture(tty), env }
}
