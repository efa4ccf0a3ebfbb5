// Argument readers for binding functions. TypeScript has already validated types and shapes;
// these checks are the last line, so a misuse from JS is a TypeError, never a crash.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "binding/addon_data.h"
#include "core/device.h"
#include "core/dtype.h"

namespace ns {

struct Args {
  const Napi::CallbackInfo& info;
  const char* op;

  Napi::Env env() const { return info.Env(); }
  [[noreturn]] void type_error(size_t i, const char* want) const {
    throw Napi::TypeError::New(info.Env(), std::string(op) + ": argument " + std::to_string(i) + " must be " + want);
  }
  TensorPtr tensor(size_t i) const { return lookup(info[i], i); }
  TensorPtr optional_tensor(size_t i) const {
    if (info[i].IsNull() || info[i].IsUndefined()) return nullptr;
    return tensor(i);
  }
  double number(size_t i) const {
    if (!info[i].IsNumber()) type_error(i, "a number");
    return info[i].As<Napi::Number>().DoubleValue();
  }
  int64_t integer(size_t i) const {
    if (!info[i].IsNumber()) type_error(i, "an integer");
    return info[i].As<Napi::Number>().Int64Value();
  }
  bool boolean(size_t i) const {
    if (!info[i].IsBoolean()) type_error(i, "a boolean");
    return info[i].As<Napi::Boolean>().Value();
  }
  std::vector<int64_t> ints(size_t i) const {
    if (!info[i].IsArray()) type_error(i, "an array of integers");
    auto arr = info[i].As<Napi::Array>();
    std::vector<int64_t> out(arr.Length());
    for (uint32_t k = 0; k < arr.Length(); ++k) {
      Napi::Value v = arr.Get(k);
      if (!v.IsNumber()) type_error(i, "an array of integers");
      out[k] = v.As<Napi::Number>().Int64Value();
    }
    return out;
  }
  std::vector<TensorPtr> tensors(size_t i) const {
    if (!info[i].IsArray()) type_error(i, "an array of tensors");
    auto arr = info[i].As<Napi::Array>();
    std::vector<TensorPtr> out(arr.Length());
    for (uint32_t k = 0; k < arr.Length(); ++k) out[k] = lookup(arr.Get(k), i);
    return out;
  }
  TensorPtr lookup(const Napi::Value& v, size_t i) const {
    if (!v.IsNumber()) type_error(i, "a tensor handle");
    const TensorPtr* t = addon_data(info.Env()).tensors.find(v.As<Napi::Number>().DoubleValue());
    if (!t) throw Napi::Error::New(info.Env(), std::string(op) + ": tensor was disposed");
    return *t;
  }
  DType dtype(size_t i) const {
    if (!info[i].IsString()) type_error(i, "a dtype name");
    const std::string s = info[i].As<Napi::String>().Utf8Value();
    if (s == "float32") return DType::F32;
    if (s == "float64") return DType::F64;
    if (s == "int32") return DType::I32;
    if (s == "bfloat16") return DType::BF16;
    throw Napi::TypeError::New(info.Env(), std::string(op) + ": unknown dtype '" + s + "'");
  }
  // "cpu", "cuda" or "cuda:N"; absent means the CPU.
  Device device(size_t i) const {
    if (info[i].IsUndefined() || info[i].IsNull()) return Device::cpu();
    if (!info[i].IsString()) type_error(i, "a device name ('cpu', 'cuda' or 'cuda:N')");
    return parse_device(info[i].As<Napi::String>().Utf8Value());
  }
};

// Registers a result tensor and returns its handle to JS.
inline Napi::Value handle_of(Napi::Env env, TensorPtr t) {
  return Napi::Number::New(env, addon_data(env).tensors.put(std::move(t)));
}

// Runs a binding body, turning engine errors into JS Errors (never aborting the process).
template <class F>
Napi::Value guarded(const Napi::CallbackInfo& info, F&& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(info.Env(), "out of memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

}  // namespace ns
