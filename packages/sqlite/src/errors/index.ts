export { InvalidStateError } from './invalid-state-error.js'
export { UncommittedChangesError } from './uncommitted-changes-error.js'
