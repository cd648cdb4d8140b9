/**
 * Security requirements of the agent faces (MCP tools, and the session file and HTTP
 * operations behind them), by id. Tests cite these ids in their names;
 * test/unit/requirements.test.ts fails when an id here has no test citing it.
 */
export const MCP_REQUIREMENTS = {
  'files.symlink-read': 'a read through a symlink (to a denied file, out of the workspace, through /) is judged as its target',
  'files.symlink-write': 'a write through a symlinked directory (into .git/hooks, a denied tree) is judged as the real directory',
  'files.symlink-edit': 'edit_file is refused when its read through a symlink is refused; nothing is written',
  'files.symlink-list': 'listing a symlinked directory is judged as the directory it points at',
  'files.symlink-search': 'a search of a symlinked directory is judged as its target, and hits in files the agent may not read are withheld',
  'files.no-toctou-read': 'a file swapped for a link between the decision and the read is refused (E_FILE_CHANGED), not followed',
  'files.no-toctou-write': 'a directory swapped for a link between the decision and the write is refused (E_FILE_CHANGED), not followed',
  'mcp.http-allowed': 'http_request goes through the session egress proxy and is recorded as a network.request event',
  'mcp.http-denied': "a request the proxy refuses (403 + X-Airlock-Denied) comes back as the agent denial and never reaches the host",
  'mcp.http-https': 'https requests are intercepted with the session CA where the policy says so; credentials are injected on the host, never seen; own credentials are refused',
  'mcp.http-connect-denied': 'a refused CONNECT is the agent denial too',
  'mcp.http-no-egress': 'a session without a proxy answers E_NO_EGRESS',
  'sdk.jsdoc': 'every export of the package root has JSDoc',
} as const;

/** An MCP/face requirement id. */
export type McpRequirement = keyof typeof MCP_REQUIREMENTS;
