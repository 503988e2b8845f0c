import type { Command } from 'commander'
import { examples, type App } from '../app.js'
import { registerBranchCreate } from './branch-create.js'
import { registerBranchDelete } from './branch-delete.js'
import { registerBranchList } from './branch-list.js'
import { registerBranchRename } from './branch-rename.js'

/** `strata branch list|create|delete|rename`. */
export function registerBranch(parent: Command, app: App): void {
  const branch = parent.command('branch').description('list, create, delete and rename branches')
  examples(branch, 'strata branch list', 'strata branch create experiment --from main', 'strata branch delete experiment')
  registerBranchList(branch, app)
  registerBranchCreate(branch, app)
  registerBranchDelete(branch, app)
  registerBranchRename(branch, app)
}
