/**
 * What an alias (`attach --alias`) may be: a DNS name a container can ask for. Labels of letters,
 * digits, "-" and "_" (Docker's container names have "_"), 1-63 characters each, dot-separated,
 * 253 characters at most; not an IPv4 address (it would shadow PTR and address literals).
 * Pure, so the control API's schema (loaded by the CLI) can use it without the resolver.
 */
import { MAX_ALIAS_LENGTH, MAX_ALIASES } from '../../proto/index.js'

const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/

/** Why `alias` is not a usable DNS name, or undefined. */
export function aliasError (alias: string): string | undefined {
  const bad = (why: string): string => `invalid alias ${JSON.stringify(alias.slice(0, 80))}: ${why}`
  if (alias.length === 0) return bad('empty')
  if (alias.length > MAX_ALIAS_LENGTH) return bad(`longer than ${MAX_ALIAS_LENGTH} characters`)
  const name = alias.endsWith('.') ? alias.slice(0, -1) : alias
  if (name.split('.').some(l => !LABEL.test(l))) {
    return bad('labels are 1-63 letters, digits, "-" or "_", not starting or ending with "-"')
  }
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return bad('an IPv4 address is no name')
  return undefined
}

/** Throws the first alias error of `aliases` (and a list that is too long). */
export function checkAliases (aliases: readonly string[]): void {
  if (aliases.length > MAX_ALIASES) throw new RangeError(`at most ${MAX_ALIASES} aliases per endpoint`)
  for (const a of aliases) {
    const why = aliasError(a)
    if (why !== undefined) throw new RangeError(why)
  }
}
