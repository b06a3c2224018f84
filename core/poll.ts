/**
 * Waiting on time: `sleep` and `pollUntil` take the Clock they wait on (SystemClock by default),
 * so code that polls a condition runs on a FakeClock too when the caller advances it.
 */
import { type Clock, SystemClock } from './clock.js'

const system = new SystemClock()

/** Resolves after `ms` on `clock`. */
export async function sleep (ms: number, clock: Clock = system): Promise<void> {
  await new Promise<void>(resolve => { clock.setTimeout(resolve, ms) })
}

export interface PollOptions {
  /** Give up after this many ms (default 10 000). */
  timeoutMs?: number
  /** Pause between two checks, ms (default 25). */
  stepMs?: number
  clock?: Clock
}

/**
 * Check `pred` every `stepMs` until it holds (a throw counts as "not yet"); rejects with
 * "`what`: not within N ms" after `timeoutMs`.
 */
export async function pollUntil (
  what: string, pred: () => boolean | Promise<boolean>, opts: PollOptions = {}
): Promise<void> {
  const clock = opts.clock ?? system
  const timeoutMs = opts.timeoutMs ?? 10_000
  const deadline = clock.now() + timeoutMs
  for (;;) {
    if (await Promise.resolve().then(pred).catch(() => false)) return
    if (clock.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(opts.stepMs ?? 25, clock)
  }
}
