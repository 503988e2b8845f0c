{
  # The lazy-branch VFS: a SQLite loadable extension, compiled against the sqlite3ext.h that
  # better-sqlite3 bundles, so it matches the SQLite the process runs. No Node API is used.
  'targets': [
    {
      'target_name': 'strata_vfs',
      'type': 'loadable_module',
      'product_extension': 'node',
      'sources': ['src/strata_vfs.c', 'src/strata_emit.c'],
      'include_dirs': [
        "<!(node -p \"require('path').join(require('path').dirname(require.resolve('better-sqlite3/package.json')), 'deps', 'sqlite3')\")",
      ],
      'cflags': ['-O2', '-Wall', '-Wextra', '-Wno-unused-parameter', '-fvisibility=hidden'],
      'cflags!': ['-fno-exceptions'],
      'libraries': ['-lpthread'],
      'xcode_settings': { 'OTHER_CFLAGS': ['-O2', '-Wall'] },
    },
  ],
}
