/** Fan-out of control events (`ovnet events`) to subscribers; no replay. */
import type { ControlEvent, EventType } from './api-types.js'

export class EventHub {
  private readonly listeners = new Set<(ev: ControlEvent) => void>()

  subscribe (listener: (ev: ControlEvent) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  emit (type: EventType, action: string, id: string, attributes: Record<string, string>): void {
    if (this.listeners.size === 0) return
    const ev: ControlEvent = {
      Type: type, Action: action, Actor: { ID: id, Attributes: attributes }, Time: new Date().toISOString()
    }
    for (const l of [...this.listeners]) {
      try { l(ev) } catch { /* a broken stream is the server's to close */ }
    }
  }
}
