/**
 * Settings of a tournament driven in process on the fake trainer (test/support/fake-trainer.ts):
 * builtin agents, 1 s budgets, no sandbox (nothing trains), a dataset directory nobody reads.
 */
import { DEFAULT_META, type TournamentSettings } from "../../src/tournament/index.ts";

export function fakeTournamentSettings(datasetDir: string, over: Partial<TournamentSettings> = {}): TournamentSettings {
  return {
    profile: "cpu",
    timeBudget: 1,
    datasetDir,
    experimentsPerNight: 10,
    allocation: "halving",
    seed: 42,
    evolutionSeed: 42,
    devices: "cpu",
    verify: { maxSeeds: 6, minSeeds: 2, alpha: 0.05, effect: 0.002, championAlpha: 0.01, confirmSeeds: 3 },
    breed: 1,
    retire: 1,
    meta: { ...DEFAULT_META },
    agent: { kind: "builtin" },
    sandbox: "off",
    ...over,
  };
}
