/**
 * AgentError: how an LLM agent reports that it cannot work at all — a missing API key, an
 * option it cannot accept, credentials or a model the server refuses, a caller's abort. A bad
 * answer, a rate limit, a 5xx or a timeout is NOT an error here: propose() returns a skipped
 * ProposalResult for those, so that a night never dies of one bad call.
 * Messages never carry an API key (every message built from server text is redacted first).
 */
import { CodedError } from "../../util/errors.ts";
export type AgentErrorCode =
  | "AGENT_NO_API_KEY" // no apiKey option and the provider's environment variable is unset
  | "AGENT_INVALID_OPTION" // an unknown option name or a value out of range
  | "AGENT_AUTH_FAILED" // the server answered 401/403: the key is wrong or lacks access
  | "AGENT_NOT_FOUND" // the server answered 404: the model or the base URL is wrong
  | "AGENT_ABORTED"; // the caller's AbortSignal fired

export class AgentError extends CodedError<AgentErrorCode> {}
