/** TournamentError: what the tournament raises on purpose, each with a stable code and one line. */
import { CodedError } from "../util/errors.ts";

export type TournamentErrorCode =
  | "TOURNAMENT_EXISTS" // start with a name already taken (resume it instead)
  | "TOURNAMENT_UNKNOWN" // resume/status/stop of a name the workspace does not have
  | "TOURNAMENT_FINISHED" // resume of a finished tournament
  | "TOURNAMENT_ORGS" // no orgs, too few, or an org whose program.md changed under its name
  | "TOURNAMENT_SETTINGS"; // a setting out of range

export class TournamentError extends CodedError<TournamentErrorCode> {}
