/** The ovnet version: package.json's, read once (the CLI and the agent's /v1/ping report it). */
import { readFileSync } from 'node:fs'

export const OVNET_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
