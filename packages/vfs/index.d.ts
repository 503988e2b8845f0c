/** The entry point SQLite calls when the extension is loaded. */
export declare const ENTRY_POINT: 'sqlite3_strata_init'

/**
 * The entry point that registers the result emitter, `strata_emit_rows(sql, format, fd)`, on the
 * connection that loads it (and nothing else: the VFS is registered by {@link ENTRY_POINT}).
 */
export declare const EMIT_ENTRY_POINT: 'sqlite3_strataemit_init'

/**
 * The built extension's path, or null when the install-time build did not produce it. The
 * environment variable STRATA_VFS_EXTENSION overrides it ('' or 'off': none).
 */
export declare function extensionPath(): string | null
