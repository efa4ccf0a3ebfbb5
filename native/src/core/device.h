// Where a tensor's storage lives: host memory or one CUDA device. A tensor's device is its
// storage's; ops require all their inputs on one device and put their outputs there.
#pragma once
#include <cstdint>
#include <string>

namespace ns {

enum class DeviceType : uint8_t { CPU = 0, CUDA = 1 };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;  // the CUDA ordinal; 0 for the CPU

  static Device cpu() { return {}; }
  static Device cuda(int index) { return {DeviceType::CUDA, index}; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  // "cpu" or "cuda:N", the spelling parse_device accepts back.
  std::string str() const;
};

// "cpu", "cuda" (device 0) or "cuda:N". Throws naming the accepted spellings.
Device parse_device(const std::string& spec);

}  // namespace ns
