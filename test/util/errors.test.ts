import { describe, expect, it } from "vitest";
import { EditError } from "../../src/agents/edits.ts";
import { BuiltinAgentError } from "../../src/agents/builtin/errors.ts";
import { AgentError } from "../../src/agents/llm/errors.ts";
import { StrategyError } from "../../src/agents/strategy.ts";
import { UsageError, isUserError } from "../../src/commands/common.ts";
import { EngineError } from "../../src/engine/errors.ts";
import { DataError } from "../../src/harness/data/errors.ts";
import { DatasetError } from "../../src/harness/dataset.ts";
import { RunnerError, TrainLoadError } from "../../src/harness/runner/errors.ts";
import { TokenizerError } from "../../src/harness/tokenizer.ts";
import { LabError } from "../../src/lab/errors.ts";
import { LoopError } from "../../src/loop/loop.ts";
import { OrgError } from "../../src/workspace/org.ts";
import { StoreError } from "../../src/store/errors.ts";
import { StatsError } from "../../src/stats/errors.ts";
import { DeviceError } from "../../src/workspace/devices.ts";
import { CodedError } from "../../src/util/errors.ts";

describe("coded errors", () => {
  const made: [string, Error][] = [
    ["EngineError", new EngineError("INVALID_ARGUMENT", "m")],
    ["DataError", new DataError("DATA_NO_DOCUMENTS", "m")],
    ["DatasetError", new DatasetError("DATASET_MISSING", "m")],
    ["TokenizerError", new TokenizerError("INVALID_ARGUMENT", "m")],
    ["RunnerError", new RunnerError("INVALID_OPTION", "m")],
    ["TrainLoadError", new TrainLoadError("TRAIN_NO_DEFAULT_EXPORT", "m")],
    ["LabError", new LabError("LAB_BUSY", "m")],
    ["StoreError", new StoreError("STORE_BUSY", "m")],
    ["AgentError", new AgentError("AGENT_NO_API_KEY", "m")],
    ["BuiltinAgentError", new BuiltinAgentError("NO_STRATEGY", "m")],
    ["EditError", new EditError("EDIT_EMPTY", 0, "m")],
    ["StrategyError", new StrategyError("STRATEGY_SYNTAX", 3, "m")],
    ["LoopError", new LoopError("RUN_EXISTS", "m")],
    ["OrgError", new OrgError("m")],
    ["StatsError", new StatsError("STATS_EMPTY", "m")],
    ["DeviceError", new DeviceError("BAD_DEVICES", "m")],
    ["UsageError", new UsageError("m")],
  ];

  it.each(made)("%s is a CodedError with its own name, a code, and is printed as a user error", (name, err) => {
    expect(err).toBeInstanceOf(CodedError);
    expect(err.name).toBe(name);
    expect(typeof (err as CodedError).code).toBe("string");
    expect(isUserError(err)).toBe(true);
  });

  it("keeps the cause and leaves plain errors (bugs) out", () => {
    const cause = new Error("root");
    expect(new DataError("DATA_UNREADABLE", "m", { cause }).cause).toBe(cause);
    expect(isUserError(new TypeError("bug"))).toBe(false);
  });

  it("keeps subclass fields", () => {
    expect(new EditError("EDIT_NOT_FOUND", 2, "m").index).toBe(2);
    const s = new StrategyError("STRATEGY_SYNTAX", 7, "bad");
    expect([s.line, s.message]).toEqual([7, "program.md line 7: bad"]);
  });
});
