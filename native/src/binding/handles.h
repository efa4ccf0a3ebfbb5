// The tensor handle table: JS refers to native tensors by number, never by wrapper object.
// A handle is slot + generation, so a stale handle (its slot freed and reused) is detected
// instead of silently naming another tensor. Releasing a handle drops its reference at once;
// no finalizer, no event-loop turn needed, so tight synchronous training loops stay flat.
#pragma once
#include <napi.h>

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace ns {

class HandleTable {
 public:
  // Stores t and returns its handle (a safe integer: generation * 2^22 + slot).
  double put(TensorPtr t);
  // The tensor behind a handle, or null if the handle is stale or malformed.
  const TensorPtr* find(double handle) const;
  // Drops the reference; stale handles are ignored (dispose is idempotent).
  void release(double handle);
  size_t live() const { return live_; }

 private:
  static constexpr uint64_t kSlotBits = 22;
  struct Slot {
    TensorPtr tensor;
    uint32_t generation = 0;
  };
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  size_t live_ = 0;
};

}  // namespace ns
