/** Test support: tournament settings for tests that plan or breed without training anything. */
import { DEFAULT_META, type TournamentSettings } from "../../src/tournament/settings.ts";

/** Settings no training reads (no dataset), breeding one and retiring one by default. */
export function offlineSettings(overrides: Partial<TournamentSettings> = {}): TournamentSettings {
  return {
    profile: "cpu",
    timeBudget: 1,
    datasetDir: "/nowhere",
    experimentsPerNight: 8,
    allocation: "halving",
    seed: 42,
    evolutionSeed: 7,
    devices: "cpu",
    verify: { maxSeeds: 2, minSeeds: 2, alpha: 0.05, effect: 0.002 },
    breed: 1,
    retire: 1,
    meta: DEFAULT_META,
    ...overrides,
  };
}
