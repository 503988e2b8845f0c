export * from './errors/index.js'
export * from './format/index.js'
export * from './store/index.js'
export * from './repo/index.js'
