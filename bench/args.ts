/**
 * Command-line numbers of the benches, through node:util parseArgs: every option is declared with
 * its default (`--name N`); an unknown option or a value that is not a number is an error.
 */
import { parseArgs } from 'node:util'

export function benchArgs<K extends string> (
  defaults: Readonly<Record<K, number>>, flags: readonly string[] = [], argv: readonly string[] = process.argv.slice(2)
): Record<K, number> & { flags: ReadonlySet<string> } {
  const names = Object.keys(defaults) as K[]
  const options: Record<string, { type: 'string' | 'boolean' }> = {}
  for (const n of names) options[n] = { type: 'string' }
  for (const f of flags) options[f] = { type: 'boolean' }
  const { values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false })
  const out = {} as Record<K, number>
  for (const n of names) {
    const v = values[n]
    if (v === undefined) { out[n] = defaults[n]; continue }
    const x = Number(v)
    if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(x)) throw new TypeError(`--${n}: not a number: ${String(v)}`)
    out[n] = x
  }
  return Object.assign(out, { flags: new Set(flags.filter(f => values[f] === true)) })
}
