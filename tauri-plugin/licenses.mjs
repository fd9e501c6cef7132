// `prepack` (npm pack, npm publish): copies the repository's LICENSE-MIT and
// LICENSE-APACHE here, where package.json's `files` ships them. npm leaves
// symbolic links out of a package, so links would not do; the copies are
// gitignored. A missing text is skipped: scripts/check-js fails if the
// tarball lacks one that the repository root has.
import { copyFileSync, existsSync, lstatSync } from 'node:fs'

for (const name of ['LICENSE-MIT', 'LICENSE-APACHE']) {
  const source = new URL(`../${name}`, import.meta.url)
  const copy = new URL(name, import.meta.url)
  // Never write through a link: it would overwrite the text it points at.
  if (existsSync(source) && !lstatSync(copy, { throwIfNoEntry: false })?.isSymbolicLink()) {
    copyFileSync(source, copy)
  }
}
