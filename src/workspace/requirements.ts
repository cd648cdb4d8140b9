/**
 * Security requirements of the workspace part, by id. Tests cite these ids in their names;
 * test/unit/requirements.test.ts fails when an id here has no test citing it.
 */
export const WORKSPACE_REQUIREMENTS = {
  'workspace.project-untouched':
    'nothing the agent writes reaches the project before apply; the staged tree takes every write',
  'workspace.private-staging':
    'the staging directory is private (0700), outside the project, and never overlaps it (by path component, not string prefix)',
  'workspace.conflicts-refuse':
    'apply refuses, writing nothing, when the project changed since staging where the agent also changed it',
  'workspace.apply-atomic':
    'each file is replaced through a temporary file and a rename; a user hard link to a project file keeps its content',
  'workspace.mode-bits': 'permission bits are applied; setuid, setgid and sticky bits never are',
  'workspace.no-symlink-escape':
    'a symlink out of the project is never applied, and apply and diff never follow a symlink in the project or the staged tree',
  'workspace.no-hardlink-read': 'a hard link to a file outside the staged tree is never read or applied',
  'workspace.no-special-files': 'device nodes, FIFOs and sockets are never applied and never opened',
  'workspace.protected':
    'hooks, git config and attributes, shell rc files, IDE, agent and CI configs, package scripts need allowProtected, created, changed or deleted, under any case or Unicode spelling',
  'workspace.case-alias': 'a path that names an existing entry under another spelling is a conflict',
  'workspace.no-mount-crossing':
    'nothing is staged from, or applied into, another file system mounted inside the project',
  'workspace.git-no-exec':
    'diff and export never let the staged tree (attributes, config) or the environment make git run a program',
  'workspace.export-no-hooks':
    "export creates a new branch without running any hook or touching the user's work tree, index or HEAD",
  'workspace.staged-by-default':
    'a session (run, named, SDK) works on a staged copy unless direct mode is asked for explicitly, and direct mode warns',
  'workspace.direct-protected-report':
    'a direct session reports every protected file it created, changed or removed (in session.stopped and on stderr of run), since nothing holds them',
  'workspace.review-binding':
    'with a fingerprint, apply and export land only exactly the changes that were reviewed',
} as const;

/** A workspace requirement id. */
export type WorkspaceRequirement = keyof typeof WORKSPACE_REQUIREMENTS;
