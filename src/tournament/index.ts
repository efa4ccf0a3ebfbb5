/**
 * tournament/: the outer loop — a population of orgs races for device nights (allocation.ts),
 * each org's best is verified against the night's base, the champion moves only on a real gain
 * (night.ts), the best breed and the worst retire (evolve.ts, mutate.ts). Resumable at every
 * step (tournament.ts); `status.ts` reads it back.
 */
export { startTournament, driveTournament, findTournament, stopFile } from "./tournament.ts";
export { loadPopulation, registerOrgs } from "./population.ts";
export { tournamentStatus, formatStatus, type TournamentStatus } from "./status.ts";
export { allocateRound, roundsOf, type Grant, type OrgProgress } from "./allocation.ts";
export { mutateProgram, strategyKey, replaceBlock, withLineage } from "./mutate.ts";
export { breedNight, metaAgentFor, planEvolution } from "./evolve.ts";
export { countedExperiments, claimedGain, deviceSeconds, nightTag } from "./night.ts";
export { TournamentError, type TournamentErrorCode } from "./errors.ts";
export { ALLOCATION_POLICIES, DEFAULT_META, type AllocationPolicy, type MetaSettings, type TournamentSettings } from "./settings.ts";
