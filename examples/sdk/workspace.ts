// Review what an agent changed in a staged copy, then apply or discard it. Type-checked by `npm run typecheck`.
import { join } from 'node:path';
import { createStagedWorkspace, resolveStateDir } from 'airlock';

const staged = await createStagedWorkspace({
  projectDir: '/path/to/project',
  stagingRoot: join(resolveStateDir(), 'workspaces'),
  sessionId: 'review-demo',
});
// … let an agent work in staged.path (mount it as a session's workspace) …
const diff = await staged.diff();
console.log(diff.files.length, 'files changed');
if (diff.files.length > 0 && process.argv.includes('--apply')) {
  const result = await staged.apply();
  console.log(result);
} else {
  await staged.discard();
}
