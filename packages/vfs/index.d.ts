/** The entry point SQLite calls when the extension is loaded. */
export declare const ENTRY_POINT: 'sqlite3_strata_init'

/**
 * The built extension's path, or null when the install-time build did not produce it. The
 * environment variable STRATA_VFS_EXTENSION overrides it ('' or 'off': none).
 */
export declare function extensionPath(): string | null
