// Run commands and file operations in a sandbox. Type-checked by `npm run typecheck`.
import { createSession, isAirlockError, loadPolicy, PolicyDeniedError } from 'airlock';

const session = await createSession({
  workspace: '/path/to/project',
  policy: loadPolicy({ path: '/path/to/project/airlock.yaml' }),
  limits: { memory: '2g', pids: 256, execTimeout: '10m' },
});
try {
  // Buffered: wait for the end, get the output.
  const r = await session.exec(['npm', 'test'], { timeoutMs: 600_000 });
  console.log(r.exitCode, r.stdout, r.decision?.verdict);

  // Streaming: output as it arrives.
  const proc = session.spawn(['bash', '-c', 'for i in 1 2 3; do echo $i; sleep 1; done']);
  proc.stdout.on('data', (chunk: Buffer) => process.stdout.write(chunk));
  const done = await proc.wait();
  console.log('exit', done.exitCode, 'after', Math.round(done.durationMs), 'ms');

  // Files, as the sandbox sees them (relative paths are under /workspace).
  const { content } = await session.readFile('package.json');
  await session.writeFile('NOTES.md', `# Notes\n\n${content.length} bytes of package.json\n`);
  for (const e of await session.listDirectory('.')) console.log(e.type, e.name);
  for (const hit of await session.search('TODO', { maxResults: 20 })) console.log(`${hit.path}:${hit.line}: ${hit.text}`);

  // A denial is an error with the decision and an explanation written for an agent.
  try {
    await session.exec(['git', 'push', '--force']);
  } catch (err) {
    if (err instanceof PolicyDeniedError) console.log(err.denial().rule, err.denial().reason);
    else if (isAirlockError(err)) console.log(err.code, err.hint);
    else throw err;
  }
} finally {
  await session.destroy();
}
