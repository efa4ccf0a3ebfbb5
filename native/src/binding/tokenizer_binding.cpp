// BPE tokenizer bindings: placeholder until the native tokenizer lands.
#include "binding/bindings.h"

namespace ns {

void register_tokenizer(Napi::Env, Napi::Object) {}

}  // namespace ns
