/** A FIFO of async tasks run one at a time: all kernel work of one network goes through one. */
export class SerialQueue {
  private tail: Promise<void> = Promise.resolve()

  /** Run `fn` after every task queued before it; its result or error goes to the caller only. */
  run<T> (fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn)
    this.tail = p.then(() => {}, () => {})
    return p
  }

  /** Resolves when every task queued so far has finished. */
  idle (): Promise<void> { return this.tail }
}
