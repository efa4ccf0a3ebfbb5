// HandleTable: slot reuse through a free list, generations to catch stale handles.
#include "binding/handles.h"

#include <cmath>

namespace ns {

double HandleTable::put(TensorPtr t) {
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    NS_CHECK(slots_.size() < (uint64_t(1) << kSlotBits), "too many live tensors (", slots_.size(),
             "): dispose tensors or use scope()");
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[slot];
  s.tensor = std::move(t);
  ++live_;
  return static_cast<double>((uint64_t(s.generation) << kSlotBits) | slot);
}

const TensorPtr* HandleTable::find(double handle) const {
  if (!(handle >= 0) || handle > 9007199254740991.0 || std::floor(handle) != handle) return nullptr;
  const uint64_t h = static_cast<uint64_t>(handle);
  const uint64_t slot = h & ((uint64_t(1) << kSlotBits) - 1);
  const uint64_t gen = h >> kSlotBits;
  if (slot >= slots_.size()) return nullptr;
  const Slot& s = slots_[slot];
  if (s.generation != gen || !s.tensor) return nullptr;
  return &s.tensor;
}

void HandleTable::release(double handle) {
  if (!find(handle)) return;
  const uint64_t slot = static_cast<uint64_t>(handle) & ((uint64_t(1) << kSlotBits) - 1);
  Slot& s = slots_[slot];
  s.tensor.reset();
  // Generations wrap after 2^31 reuses of one slot; handles stay below 2^53.
  s.generation = (s.generation + 1) & 0x7fffffffu;
  free_.push_back(static_cast<uint32_t>(slot));
  --live_;
}

}  // namespace ns
