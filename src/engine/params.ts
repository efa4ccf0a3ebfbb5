/**
 * A model's parameters, each declared once: `params.add(name, shape, init, group)` makes the
 * tensor and records how it starts and which optimizer group it belongs to. The parameter list,
 * the initialisation and the optimizer's grouping all read these declarations, so a new weight
 * is one line. `group` is the caller's own tag (the recipe's choice of Muon or AdamW and
 * learning rate); this module stores it and never interprets it. It holds no optimizer state.
 */
import { zeros } from "./creation.ts";
import type { Generator } from "./random.ts";
import { type Device, type DeviceSpec, Tensor, parseDeviceSpec } from "./tensor.ts";
import { assertFinite, assertShape, describe, invalid } from "./validate.ts";

/**
 * How a parameter starts: `{ normal: std, mean? }` and `{ uniform: bound }` (on [-bound, bound])
 * draw from the run's generator; `{ fill: value }` sets every element; a function does anything
 * else. Parameters are initialised in declaration order, so a seed gives the same weights.
 */
export type Init =
  | { normal: number, mean?: number }
  | { uniform: number }
  | { fill: number }
  | ((param: Tensor, gen: Generator) => void);

/** One declared parameter. */
export interface Param<G> {
  readonly name: string;
  /** float32, requiresGrad, on the registry's device. */
  readonly tensor: Tensor;
  readonly init: Init;
  /** The optimizer group tag given at declaration. */
  readonly group: G;
}

/** The parameters of a model, in declaration order. `G` is the type of the optimizer group tags. */
export class ParamRegistry<G> {
  readonly device: Device;
  readonly #params: Param<G>[] = [];
  readonly #names = new Set<string>();

  constructor(device: DeviceSpec = "cpu") {
    this.device = parseDeviceSpec("ParamRegistry", device);
  }

  /**
   * Declares a float32 parameter of `shape` (zeros until init()) that requires grad, and
   * returns it. Names are unique (e.g. "h.0.c_q"). Like any tensor, it belongs to the scope
   * it is made in, if any: declare a model's weights outside the training step's scope.
   */
  add(name: string, shape: number[], init: Init, group: G): Tensor {
    if (typeof name !== "string" || name === "") invalid(`ParamRegistry.add: name must be a non-empty string, got ${describe(name)}`);
    if (this.#names.has(name)) invalid(`ParamRegistry.add: a parameter '${name}' is already declared`);
    assertShape(`ParamRegistry.add('${name}')`, shape);
    if (shape.includes(-1)) invalid(`ParamRegistry.add('${name}'): shape [${shape.join(", ")}] has a -1; give every dim`);
    checkInit(name, init);
    const tensor = zeros(shape, "float32", this.device).requireGrad();
    this.#names.add(name);
    this.#params.push(Object.freeze({ name, tensor, init, group }));
    return tensor;
  }

  /** Initialises every parameter from `gen`, in declaration order. */
  init(gen: Generator): void {
    for (const { tensor, init } of this.#params) {
      if (typeof init === "function") init(tensor, gen);
      else if ("normal" in init) gen.normal_(tensor, init.mean ?? 0, init.normal);
      else if ("uniform" in init) gen.uniform_(tensor, -init.uniform, init.uniform);
      else tensor.fill_(init.fill);
    }
  }

  /** Every declaration, in declaration order. */
  get all(): readonly Param<G>[] {
    return this.#params;
  }

  /** The parameter tensors, in declaration order. */
  tensors(): Tensor[] {
    return this.#params.map((p) => p.tensor);
  }

  /** The declaration of a parameter by name; throws when there is none. */
  get(name: string): Param<G> {
    const found = this.#params.find((p) => p.name === name);
    if (!found) invalid(`ParamRegistry.get: no parameter '${name}' (declared: ${this.#params.map((p) => p.name).join(", ") || "none"})`);
    return found;
  }

  /** Number of scalar values over all parameters. */
  numel(): number {
    return this.#params.reduce((n, p) => n + p.tensor.numel, 0);
  }

  /** Releases every parameter. */
  dispose(): void {
    for (const p of this.#params) p.tensor.dispose();
  }
}

function checkInit(name: string, init: unknown): void {
  const where = `ParamRegistry.add('${name}')`;
  if (typeof init === "function") return;
  if (typeof init !== "object" || init === null)
    invalid(`${where}: init must be { normal }, { uniform }, { fill } or a function, got ${describe(init)}`);
  const keys = Object.keys(init);
  const known: Record<string, readonly string[]> = { normal: ["normal", "mean"], uniform: ["uniform"], fill: ["fill"] };
  const kind = keys.find((k) => k in known);
  if (!kind || keys.some((k) => !known[kind]!.includes(k)))
    invalid(`${where}: init must be { normal: std, mean? }, { uniform: bound } or { fill: value }, got keys ${keys.join(", ") || "none"}`);
  for (const k of keys) assertFinite(where, `init.${k}`, (init as Record<string, unknown>)[k]);
  const spread = (init as Record<string, number>)[kind]!;
  if (kind !== "fill" && spread < 0) invalid(`${where}: init.${kind} must be >= 0, got ${spread}`);
}
