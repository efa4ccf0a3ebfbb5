// Registration functions, one per binding file; module.cpp calls them all.
#pragma once
#include <napi.h>

namespace ns {

void register_tensor_methods(Napi::Env env, Napi::Object exports);
void register_tensor_factories(Napi::Env env, Napi::Object exports);
void register_generator(Napi::Env env, Napi::Object exports);
void register_ops(Napi::Env env, Napi::Object exports);
void register_optim(Napi::Env env, Napi::Object exports);
void register_runtime(Napi::Env env, Napi::Object exports);
void register_tokenizer(Napi::Env env, Napi::Object exports);

}  // namespace ns
