// Layer rules of tsiscsi (docs/architecture.md, "Layers"), checked by `npm run lint:deps` in `npm test`.
// The folders of src/ form layers on the path of the bytes; an arrow may only point down:
//
//   bin ─► src/index, src/initiator/index, src/target/index (the public API) + bin's own helpers
//   target, initiator   (the two ends; never each other)
//   cluster             (gateways sharing LUNs through etcd: membership, ownership, shared SCSI state)
//   scsi                (SPC/SBC emulation and CDB codecs, shared by both ends)
//   login, transport, r2t
//   backend             (block stores; nothing above it)
//   pdu                 (the pure wire codec)
//   util, errors.ts     (clock, mutex, serial numbers, event channel; the error hierarchy)
//
// Type-only imports count: a cycle of types is a cycle of design.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No cycles in src, type-only imports included.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'util-is-a-leaf',
      severity: 'error',
      comment: 'util holds generic pieces (clock, mutex, serial numbers, event channel): it imports nothing of the project but errors.ts.',
      from: { path: '^src/util/' },
      to: { path: '^src/', pathNot: ['^src/util/', '^src/errors\\.ts$'] },
    },
    {
      name: 'pdu-is-pure',
      severity: 'error',
      comment: 'The codec imports nothing above it: only itself, util and errors.ts.',
      from: { path: '^src/pdu/' },
      to: { path: '^src/', pathNot: ['^src/pdu/', '^src/util/', '^src/errors\\.ts$'] },
    },
    {
      name: 'pdu-has-no-io',
      severity: 'error',
      comment: 'The codec never touches sockets, files, timers or logs.',
      from: { path: '^src/pdu/' },
      to: { path: '^(node:)?(net|fs|fs/promises|dgram|tls|http|https|child_process|worker_threads|timers|timers/promises)$|(^|/)pino($|/)' },
    },
    {
      name: 'backend-below-scsi',
      severity: 'error',
      comment: 'Block backends know nothing of SCSI, the cluster, the target or the initiator.',
      from: { path: '^src/backend/' },
      to: { path: '^src/(scsi|cluster|target|initiator|login|transport|r2t)/' },
    },
    {
      name: 'scsi-below-the-ends',
      severity: 'error',
      comment: 'SCSI emulation and CDB codecs are shared by both ends and never see a PDU engine.',
      from: { path: '^src/scsi/' },
      to: { path: '^src/(target|initiator|login|transport|r2t)/' },
    },
    {
      name: 'scsi-below-cluster',
      severity: 'error',
      comment: 'The SCSI layer reaches shared state through the interfaces it defines (alua-access.ts, shared-state.ts), never the cluster.',
      from: { path: '^src/scsi/' },
      to: { path: '^src/cluster/|(^|/)node_modules/etcd3/|^etcd3$' },
    },
    {
      name: 'cluster-below-the-ends',
      severity: 'error',
      comment: 'The cluster sits between scsi and the target: it knows LUs and etcd, never a PDU engine, a login or the initiator.',
      from: { path: '^src/cluster/' },
      to: { path: '^src/(target|initiator|login|transport|r2t)/' },
    },
    {
      name: 'only-cluster-talks-to-etcd',
      severity: 'error',
      comment: 'The etcd client is loaded by src/cluster/etcd.ts alone (and only when a cluster is configured).',
      from: { path: '^src/', pathNot: '^src/cluster/etcd\\.ts$' },
      to: { path: '(^|/)node_modules/etcd3/' },
    },
    {
      name: 'login-transport-r2t-below-the-ends',
      severity: 'error',
      from: { path: '^src/(login|transport|r2t)/' },
      to: { path: '^src/(target|initiator|scsi|cluster)/' },
    },
    {
      name: 'target-not-initiator',
      severity: 'error',
      comment: 'The two ends share code only through the layers below them.',
      from: { path: '^src/target/' },
      to: { path: '^src/initiator/' },
    },
    {
      name: 'initiator-not-target',
      severity: 'error',
      from: { path: '^src/initiator/' },
      to: { path: '^src/(target|cluster)/' },
    },
    {
      name: 'bin-uses-the-public-api',
      severity: 'error',
      comment: 'The CLI reaches the library through its index modules (and src/tools for dump), never its internals.',
      from: { path: '^bin/' },
      to: {
        path: '^src/',
        pathNot: ['^src/index\\.ts$', '^src/[^/]+/index\\.ts$', '^src/errors\\.ts$'],
      },
    },
    {
      name: 'src-not-tests',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|fuzz|soak|bin)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js'] },
    exclude: { path: '^(dist|node_modules)/' },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
