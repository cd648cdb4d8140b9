/**
 * The events every part of Airlock emits, and the per-session channel they travel on.
 *
 * Emitting code publishes into an {@link EventChannel} and does not know who listens
 * (the audit log, a dashboard, a test), in the style of undici's `diagnostics_channel`
 * events. Unlike `diagnostics_channel`, a channel is an instance, never a named global:
 * two sessions in one process each have their own and never see each other's events.
 */
export type { AirlockEvent, AirlockEventOf, EventData, EventType, JsonValue, JsonObject } from './types.js';
export type {
  SessionCreatedData,
  SessionStoppedData,
  PolicyDecisionData,
  PolicyReloadData,
  ActionKind,
  Verdict,
  ApprovalRequestedData,
  ApprovalGrantedData,
  ApprovalDeniedData,
  ApprovalExpiredData,
  ExecStartedData,
  ExecFinishedData,
  FileReadData,
  FileWriteData,
  NetworkRequestData,
  NetworkUsageData,
  BudgetExceededData,
  SandboxViolationData,
  AgentFace,
  AgentToolCallData,
  AgentPromptData,
} from './types.js';
export { EVENT_TYPES, isEventType } from './types.js';
export { createEventChannel, createEvent } from './channel.js';
export type { EventChannel, EventChannelOptions, EventListener } from './channel.js';
