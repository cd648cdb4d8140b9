/**
 * Bundles a TypeScript fixture into one ES module that plain `node` runs, so child
 * processes start fast and need no `npm run build`. Packages stay external and resolve
 * from the project's node_modules (the bundle sits under node_modules/.cache for that).
 */
import { join } from 'node:path';

/** Bundles `entry` and returns the path of the bundle. */
export async function bundleFixture(entry: string, name: string): Promise<string> {
  const { build } = await import('esbuild');
  const outfile = join(process.cwd(), 'node_modules', '.cache', 'airlock-approvals-tests', `${name}-${process.pid}.mjs`);
  await build({ entryPoints: [entry], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'error' });
  return outfile;
}
