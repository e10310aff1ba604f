// The `tsiscsi` command line as bin/tsiscsi starts it, but from the build this file belongs to (dist/ or
// a private snapshot of it: soak/snapshot.sh), so that long runs test the code they started with.

process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});
const { run } = (await import(new URL('../bin/cli/main.js', import.meta.url).href)) as { run(argv: string[]): Promise<void> };
await run(process.argv.slice(2));
