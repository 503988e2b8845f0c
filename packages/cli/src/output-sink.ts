import { setImmediate as nextTurn } from 'node:timers/promises'
import type { CliStream } from './io.js'

/** Text is handed to the stream in pieces of about this many characters. */
const CHUNK_CHARS = 64 * 1024

/**
 * Buffered, back-pressured writing of a long result to a stream that the reader may close early
 * (`strata sql … | head`). Text is collected into chunks; {@link flushIfFull} and {@link flush}
 * hand a chunk to the stream and wait while the stream asks for a pause, so memory stays bounded
 * however much is written. Once the reader has gone (`EPIPE`, or the stream is destroyed),
 * {@link closed} is true and further text is dropped.
 */
export class OutputSink {
  readonly #stream: CliStream
  #text = ''
  #closed = false
  #failure: Error | null = null
  readonly #onError = (e: NodeJS.ErrnoException): void => {
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') this.#closed = true
    else this.#failure ??= e
  }

  constructor(stream: CliStream) {
    this.#stream = stream
    stream.on('error', this.#onError)
  }

  /** True once the reader has closed the stream: nothing more reaches it. */
  get closed(): boolean {
    return this.#closed || (this.#stream as { destroyed?: boolean }).destroyed === true
  }

  /** Queue `text`. */
  write(text: string): void {
    if (this.#closed) return
    this.#text += text
  }

  /** True when a whole chunk has been collected: time to {@link flush}. */
  get full(): boolean {
    return this.#text.length >= CHUNK_CHARS
  }

  /** Flush when a whole chunk has been collected. */
  async flushIfFull(): Promise<void> {
    if (this.full) await this.flush()
  }

  /**
   * Hand what is queued to the stream, and wait until it accepts more (or the reader has gone).
   * Rethrows a write error other than a closed pipe.
   */
  async flush(): Promise<void> {
    if (this.#failure) throw this.#failure
    if (this.closed) {
      this.#text = ''
      return
    }
    if (this.#text.length > 0) {
      const text = this.#text
      this.#text = ''
      const ready = this.#stream.write(text)
      if (!ready) await this.#drained()
    }
    // A closed pipe is reported on a later turn of the event loop: give it that turn.
    await nextTurn()
    if (this.#failure) throw this.#failure
  }

  /**
   * {@link flush}, then wait until the stream has handed everything written to it to the OS,
   * so that what is next written straight to its file descriptor comes after it.
   */
  async settle(): Promise<void> {
    await this.flush()
    if (this.closed || ((this.#stream as { writableLength?: number }).writableLength ?? 0) === 0) return
    // Write callbacks run in order: this one runs once every earlier chunk has been written.
    await new Promise<void>((resolve) => this.#stream.write('', () => resolve()))
    if (this.#failure) throw this.#failure
  }

  /** Stop listening to the stream's errors. */
  dispose(): void {
    this.#stream.off('error', this.#onError)
  }

  #drained(): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.#stream.off('drain', done)
        this.#stream.off('error', done)
        this.#stream.off('close', done)
        resolve()
      }
      this.#stream.on('drain', done)
      this.#stream.on('error', done)
      this.#stream.on('close', done)
    })
  }
}
