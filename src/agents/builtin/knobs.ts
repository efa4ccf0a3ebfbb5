/**
 * The knob space: the strategy's knobs bound to the recipe's constants, and the map between a
 * knob's values and the normalized [0,1] coordinate the optimizer works in (log knobs on a log
 * scale, int knobs rounded, choice knobs as equal slices of [0,1]). Values leaving this module
 * are rounded to a readable precision and lie within the knob's bounds. No randomness here.
 */
import type { KnobSpec, Strategy } from "../strategy.ts";
import { BuiltinAgentError } from "./errors.ts";
import { type ConstantValue, type RecipeConstant, isKeyed } from "./recipe.ts";

export type KnobValue = number | string;

export interface Knob {
  spec: KnobSpec;
  /** The train.ts constant holding the knob (`ADAM_BETAS` for `ADAM_BETAS[1]`, `DEPTH` for `DEPTH.cpu`). */
  constant: string;
  /** The element: an array index for knobs named `NAME[i]`, a key for `NAME.key`; null for a whole constant. */
  element: number | string | null;
}

const ELEMENT = /^([A-Za-z_$][\w$]*)(?:\[(\d+)\]|\.([A-Za-z_$][\w$]*))$/;

/** Binds every knob of the strategy to train.ts; a knob train.ts lacks is an error naming it. */
export function resolveKnobs(strategy: Strategy, constants: ReadonlyMap<string, RecipeConstant>): Knob[] {
  return strategy.knobs.map((spec) => {
    const m = ELEMENT.exec(spec.name);
    const constantName = m ? m[1]! : spec.name;
    const element = !m ? null : m[2] !== undefined ? Number(m[2]) : m[3]!;
    const constant = constants.get(constantName);
    if (!constant) {
      const known = [...constants.keys()].join(", ");
      throw new BuiltinAgentError(
        "KNOB_NOT_FOUND",
        `the strategy's knob '${spec.name}' is not in train.ts: no top-level ` +
          `\`export const ${constantName} = <number | string | [numbers] | { key: number }>;\` line (knobs there: ${known || "none"})`,
      );
    }
    const knob: Knob = { spec, constant: constantName, element };
    checkKnobType(knob, constant.value);
    return knob;
  });
}

function checkKnobType(knob: Knob, value: ConstantValue): void {
  const { name, kind } = knob.spec;
  const { constant, element } = knob;
  if (Array.isArray(value)) {
    if (element === null)
      throw new BuiltinAgentError("KNOB_TYPE", `knob '${name}': train.ts's ${name} is a list; name one element, e.g. '${name}[0]'`);
    if (typeof element === "string")
      throw new BuiltinAgentError("KNOB_TYPE", `knob '${name}': train.ts's ${constant} is a list; name an element by index, e.g. '${constant}[0]'`);
    if (element >= value.length)
      throw new BuiltinAgentError("KNOB_TYPE", `knob '${name}': train.ts's ${constant} has only ${value.length} elements`);
  } else if (isKeyed(value)) {
    const keys = Object.keys(value);
    if (typeof element !== "string")
      throw new BuiltinAgentError(
        "KNOB_TYPE",
        `knob '${name}': train.ts's ${constant} has one value per key (${keys.join(", ")}); name one, e.g. '${constant}.${keys[0]}'`,
      );
    if (!Object.hasOwn(value, element))
      throw new BuiltinAgentError("KNOB_TYPE", `knob '${name}': train.ts's ${constant} has no key '${element}' (keys: ${keys.join(", ")})`);
  } else if (element !== null) {
    const what = typeof element === "number" ? "a list" : "an object of values like { cpu: 4, gpu: 8 }";
    throw new BuiltinAgentError("KNOB_TYPE", `knob '${name}': train.ts's ${constant} is not ${what}`);
  }
  const current = elementValue(value, element);
  if (kind !== "choice" && typeof current !== "number")
    throw new BuiltinAgentError(
      "KNOB_TYPE",
      `knob '${name}' is a ${kind} knob but train.ts's value is the string ${JSON.stringify(current)}; use a choice knob`,
    );
  if (kind === "choice") {
    const choices = knob.spec.choices!;
    if (typeof choices[0] !== typeof current)
      throw new BuiltinAgentError(
        "KNOB_TYPE",
        `knob '${name}': its choices are ${typeof choices[0]}s but train.ts's value ${JSON.stringify(current)} is a ${typeof current}`,
      );
    const bad = choices.find((c) => typeof c === "string" && /["'\\\n]/.test(c));
    if (bad !== undefined)
      throw new BuiltinAgentError("KNOB_TYPE", `knob '${name}': choice ${JSON.stringify(bad)} may not hold quotes or backslashes`);
  }
}

/** The knob's value in a set of constants (train.ts's current ones, or a past state). */
export function knobValue(knob: Knob, constants: ReadonlyMap<string, RecipeConstant>): KnobValue {
  return elementValue(constants.get(knob.constant)!.value, knob.element);
}

function elementValue(value: ConstantValue, element: Knob["element"]): KnobValue {
  if (Array.isArray(value)) return value[element as number]!;
  if (isKeyed(value)) return value[element as string]!;
  return value;
}

/** `value` with the knob's element set to `to` (a copy; the whole value for a whole-constant knob). */
export function withElement(value: ConstantValue, element: Knob["element"], to: KnobValue): ConstantValue {
  if (Array.isArray(value)) return value.map((v, i) => (i === element ? (to as number) : v));
  if (isKeyed(value)) return { ...value, [element as string]: to as number };
  return to;
}

/**
 * value -> [0,1]. Values outside the bounds sit on the nearest edge; a value that is not one of
 * a choice knob's choices sits in the middle.
 */
export function toUnit(spec: KnobSpec, value: KnobValue): number {
  if (spec.kind === "choice") {
    const i = spec.choices!.indexOf(value);
    return i < 0 ? 0.5 : (i + 0.5) / spec.choices!.length;
  }
  const v = value as number;
  const min = spec.min!;
  const max = spec.max!;
  if (spec.kind === "log") return v <= 0 ? 0 : clamp01((Math.log(v) - Math.log(min)) / (Math.log(max) - Math.log(min)));
  return clamp01((v - min) / (max - min));
}

/**
 * [0,1] -> a value within bounds, rounded for a readable diff: int knobs to integers, log knobs
 * to 3 significant digits, linear knobs to about a thousandth of their range.
 */
export function fromUnit(spec: KnobSpec, unit: number): KnobValue {
  const u = clamp01(unit);
  if (spec.kind === "choice") {
    const n = spec.choices!.length;
    return spec.choices![Math.min(n - 1, Math.floor(u * n))]!;
  }
  const min = spec.min!;
  const max = spec.max!;
  let v: number;
  if (spec.kind === "int") v = Math.round(min + u * (max - min));
  else if (spec.kind === "log") v = Number(Math.exp(Math.log(min) + u * (Math.log(max) - Math.log(min))).toPrecision(3));
  else v = roundToRange(min + u * (max - min), max - min);
  // Rounding may step just past a bound; the bound itself is the nearest allowed value.
  return Math.min(max, Math.max(min, v)) + 0; // + 0 turns -0 into 0
}

function roundToRange(v: number, range: number): number {
  const decimals = 3 - Math.ceil(Math.log10(range));
  if (decimals >= 0) return Number(v.toFixed(Math.min(decimals, 20)));
  const step = 10 ** -decimals;
  return Math.round(v / step) * step;
}

export function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}
