import { createRequire } from 'node:module'
import type cliProgress from 'cli-progress'
import type { Progress, ProgressListener } from '@strata/core'
import type { CliStream } from './io.js'

/** A progress display for one long operation. */
export interface ProgressDisplay {
  /** Pass to the operation's `onProgress`; undefined when nothing is displayed. */
  onProgress: ProgressListener | undefined
  /** Remove the bar (idempotent). Call it in a `finally`. */
  stop(): void
}

/**
 * A progress bar on `stream` labelled `label`, showing each `{phase, loaded, total}` report; a
 * new phase restarts the bar. When `enabled` is false (stderr is not a terminal, or `--json` /
 * `--quiet`) nothing is drawn and `onProgress` is undefined.
 */
export function progressDisplay(stream: CliStream, label: string, enabled: boolean): ProgressDisplay {
  if (!enabled) return { onProgress: undefined, stop: () => {} }
  // Loaded only when a bar is drawn: most runs (scripts, pipes, --quiet) never need it.
  const bars = createRequire(import.meta.url)('cli-progress') as typeof cliProgress
  let bar: cliProgress.SingleBar | null = null
  let phase = ''
  const onProgress = (p: Progress): void => {
    // A listener must never throw into the operation: a broken terminal only loses the bar.
    try {
      if (bar === null) {
        bar = new bars.SingleBar(
          {
            stream,
            format: `${label} {phase} [{bar}] {percentage}% {value}/{total}`,
            hideCursor: true,
            clearOnComplete: false,
            etaBuffer: 50,
          },
          bars.Presets.shades_classic,
        )
        phase = p.phase
        bar.start(Math.max(p.total, p.loaded), p.loaded, { phase })
        return
      }
      if (p.phase !== phase) {
        phase = p.phase
        bar.setTotal(Math.max(p.total, p.loaded))
        bar.update(p.loaded, { phase })
        return
      }
      if (p.total > 0) bar.setTotal(Math.max(p.total, p.loaded))
      bar.update(p.loaded, { phase })
    } catch {
      // ignore: see above
    }
  }
  return {
    onProgress,
    stop: () => {
      const b = bar as cliProgress.SingleBar | null
      bar = null
      b?.stop()
    },
  }
}
