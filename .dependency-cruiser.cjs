// berth's layers (docs/architecture.md). Imports flow one way:
//   main → cli → compose → client → ground (compose speaks to any engine through the client only)
//   main → cli → stack → compose, client (swarm stacks: a compose project deployed as services, client side)
//   main → cli → machine → ground (berth machine: provisioning hosts over ssh, client-side only)
//   main → cli → trust → ground; images → trust (content trust: the CLI signs and verifies, the daemon applies its policy)
//   main → daemon → build → containers → images | network | volumes → runtime → storage → ground
//   main → daemon → cluster → ground (swarm mode: the daemon hands it a LocalEngine over its containers)
//   main → registry → images/distribution (the pull-through proxy is a registry client)
//   ui/ (the web dashboard, run in a browser) → api/ and client/'s types only; nothing imports ui/
//   cli | daemon → ui-server → client (the dashboard's server, for `berth ui` and `berth daemon --ui`, serves dist/ui/)
// The ground is errors.ts, events/, api/ (the Engine API's shared shapes and
// grammars), files/ (atomic writes, compression) and dist-dir.ts.
// `npx depcruise src` (scripts/test.sh) fails on any import these rules forbid.
const GROUND = '^src/(errors\\.ts|dist-dir\\.ts|events/|api/|files/)';

/** A layer may import itself, the layers listed, and the ground. */
function layer(name, path, allowed) {
  return {
    name: `layer-${name}`,
    comment: `${path} may import only ${allowed.join(', ') || 'nothing above the ground'} and the ground`,
    severity: 'error',
    from: { path: `^src/${path}` },
    to: { path: '^src/', pathNot: [GROUND, `^src/${path}`, ...allowed.map((a) => `^src/${a}`)] },
  };
}

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No file may import itself through others.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'ground-imports-only-ground',
      comment: 'The ground (errors, events, api, files) imports nothing of the layers above it.',
      severity: 'error',
      from: { path: GROUND },
      to: { path: '^src/', pathNot: GROUND },
    },
    {
      name: 'no-domain-imports-cli-or-daemon',
      comment: 'No service, runtime or storage module reaches up into the CLI, the daemon or the dashboard.',
      severity: 'error',
      from: { path: '^src/(build|cluster|containers|images|machine|network|registry|runtime|storage|volumes)/' },
      to: { path: '^src/(cli|daemon|ui|client)/' },
    },
    {
      name: 'nothing-imports-ui',
      comment: 'The dashboard (src/ui/) is a browser bundle: the daemon, the services and the CLI never import it (berth ui serves its built files).',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/ui/' },
      to: { path: '^src/ui/' },
    },
    {
      name: 'ui-imports-only-api',
      comment: 'The dashboard speaks the Engine API from the browser: it may import the API\'s shared shapes and grammars (api/) and the client\'s types, nothing else of berth.',
      severity: 'error',
      from: { path: '^src/ui/' },
      to: { path: '^src/', pathNot: ['^src/ui/', '^src/api/', '^src/client/'] },
    },
    {
      name: 'ui-imports-client-types-only',
      comment: 'The client runs on Node (sockets, TLS): the dashboard may take its types, never its code.',
      severity: 'error',
      from: { path: '^src/ui/' },
      to: { path: '^src/client/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'ui-no-node-builtins',
      comment: 'The dashboard runs in a browser: no Node built-in modules.',
      severity: 'error',
      from: { path: '^src/ui/', pathNot: 'vite\\.config\\.ts$' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'cli-commands-independent',
      comment: 'CLI command modules never import each other; shared helpers live in modules of their own.',
      severity: 'error',
      from: { path: '^src/cli/commands/[^/]+\\.ts$' },
      to: { path: '^src/cli/commands/[^/]+\\.ts$' },
    },
    layer('cli', 'cli/', ['compose/', 'stack/', 'trust/', 'client/', 'machine/', 'ui-server/']),
    layer('stack', 'stack/', ['compose/', 'client/']),
    // The dashboard's server: `berth ui` and `berth daemon --ui` run it; it reaches the daemon through the client like any client.
    layer('ui-server', 'ui-server/', ['client/']),
    layer('machine', 'machine/', []),
    layer('trust', 'trust/', []),
    layer('compose', 'compose/', ['client/']),
    layer('client', 'client/', []),
    layer('daemon', 'daemon/', ['build/', 'cluster/', 'containers/', 'images/', 'network/', 'volumes/', 'runtime/', 'storage/', 'ui-server/']),
    layer('cluster', 'cluster/', []),
    layer('build', 'build/', ['containers/', 'images/', 'volumes/', 'runtime/', 'storage/']),
    layer('containers', 'containers/', ['images/', 'network/', 'volumes/', 'runtime/', 'storage/']),
    layer('images', 'images/', ['storage/', 'trust/']),
    layer('network', 'network/', ['storage/']),
    layer('volumes', 'volumes/', ['runtime/', 'storage/']),
    layer('registry', 'registry/', ['images/distribution/']),
    layer('runtime', 'runtime/', ['storage/']),
    layer('storage', 'storage/', []),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // Imports of a type are imports too: a back edge in a type is still a back edge.
    exclude: { path: '^(dist|node_modules)/' },
  },
};
