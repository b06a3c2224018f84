/**
 * The package's root directory, found from a module's URL by walking up to ovnet's package.json:
 * the same code runs from the source tree (tests, tsx) and from the build (dist/ mirrors the tree
 * one level deeper), so a fixed '../' would be wrong in one of them.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const PACKAGE_NAME = 'ovnet'

export function packageRoot (moduleUrl: string): string {
  let dir = dirname(fileURLToPath(moduleUrl))
  for (;;) {
    const file = join(dir, 'package.json')
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === PACKAGE_NAME) {
      return dir
    }
    const up = dirname(dir)
    if (up === dir) throw new Error(`no package.json of ${PACKAGE_NAME} above ${fileURLToPath(moduleUrl)}`)
    dir = up
  }
}

/** ovnet's package.json, parsed. */
export function packageJson (moduleUrl: string): { name: string, version: string } {
  return JSON.parse(
    readFileSync(join(packageRoot(moduleUrl), 'package.json'), 'utf8')
  ) as { name: string, version: string }
}
