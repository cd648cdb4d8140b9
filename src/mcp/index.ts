/**
 * The MCP face: `airlock mcp` serves one sandboxed session's tools over stdio.
 * `createMcpServer` builds the server for a session (for embedding, or another
 * transport); `runMcpServer` owns the whole life of `airlock mcp`.
 */
export { createMcpServer, summarizePolicy, type McpServerOptions } from './server.js';
export { runMcpServer, type RunMcpOptions } from './run.js';
export { applyEdit, countOccurrences, lineDelta } from './edit.js';
