/**
 * Tensor factories: from JS data, zeros, ones, full, arange. Each takes an optional device
 * ("cpu" by default, "cuda" or "cuda:N"); data is built on the host and copied over.
 */
import { type DType, type DeviceSpec, Tensor, native, parseDeviceSpec, wrapNative } from "./tensor.ts";
import { assertShape, invalid } from "./validate.ts";

type Numeric = number[] | Float32Array | Float64Array | Int32Array;

function inferDType(data: Numeric): DType {
  if (data instanceof Float64Array) return "float64";
  if (data instanceof Int32Array) return "int32";
  return "float32";
}

function checkDType(op: string, dtype: DType): void {
  if (dtype !== "float32" && dtype !== "float64" && dtype !== "int32")
    invalid(`${op}: dtype must be 'float32', 'float64' or 'int32', got '${String(dtype)}'`);
}

/** A tensor holding a copy of `data` (row-major), shaped `shape` (default: 1-D). */
export function tensor(data: Numeric, shape?: number[], dtype?: DType, device: DeviceSpec = "cpu"): Tensor {
  const where = parseDeviceSpec("tensor", device);
  const dt = dtype ?? inferDType(data);
  checkDType("tensor", dt);
  const s = shape ?? [data.length];
  assertShape("tensor", s);
  const n = s.reduce((a, b) => a * b, 1);
  if (n !== data.length) invalid(`tensor: ${data.length} values do not fill shape [${s.join(", ")}] (${n} elements)`);
  let typed: Float32Array | Float64Array | Int32Array;
  if (dt === "float64") typed = data instanceof Float64Array ? data : Float64Array.from(data);
  else if (dt === "int32") {
    typed = data instanceof Int32Array ? data : Int32Array.from(data);
    if (!(data instanceof Int32Array) && !Array.from(data).every(Number.isInteger))
      invalid("tensor: int32 data must be integers");
  } else typed = data instanceof Float32Array ? data : Float32Array.from(data);
  return wrapNative(() => native.fromArray(typed, s, dt, where));
}

export function zeros(shape: number[], dtype: DType = "float32", device: DeviceSpec = "cpu"): Tensor {
  assertShape("zeros", shape);
  checkDType("zeros", dtype);
  const where = parseDeviceSpec("zeros", device);
  return wrapNative(() => native.zeros(shape, dtype, where));
}

export function full(shape: number[], value: number, dtype: DType = "float32", device: DeviceSpec = "cpu"): Tensor {
  assertShape("full", shape);
  checkDType("full", dtype);
  const where = parseDeviceSpec("full", device);
  return wrapNative(() => native.full(shape, dtype, value, where));
}

export function ones(shape: number[], dtype: DType = "float32", device: DeviceSpec = "cpu"): Tensor {
  return full(shape, 1, dtype, device);
}

/** Zeros shaped, typed and placed like t. */
export function zerosLike(t: Tensor): Tensor {
  return zeros(t.shape, t.dtype, t.device);
}

/** [start, end) with step 1 as a 1-D tensor. */
export function arange(start: number, end: number, dtype: DType = "float32", device: DeviceSpec = "cpu"): Tensor {
  const n = Math.max(0, Math.ceil(end - start));
  const data = Array.from({ length: n }, (_, i) => start + i);
  return tensor(data, [n], dtype, device);
}
