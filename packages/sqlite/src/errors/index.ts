export { InvalidStateError } from './invalid-state-error.js'
export { UncommittedChangesError } from './uncommitted-changes-error.js'
export { MergeConflictError } from './merge-conflict-error.js'
export { MergeRefusedError } from './merge-refused-error.js'
