// Engine errors: every failed check throws EngineError with the op name and the shapes
// involved, so the binding can turn it into a JS exception. Nothing here aborts the process.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ns {

class EngineError : public std::runtime_error {
 public:
  explicit EngineError(const std::string& msg) : std::runtime_error(msg) {}
};

inline std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

namespace detail {
inline void append(std::ostringstream&) {}
template <class T, class... R>
void append(std::ostringstream& os, const T& v, const R&... rest) {
  os << v;
  append(os, rest...);
}
}  // namespace detail

template <class... A>
[[noreturn]] void fail(const A&... parts) {
  std::ostringstream os;
  detail::append(os, parts...);
  throw EngineError(os.str());
}

}  // namespace ns

// NS_CHECK(cond, "op: message ", value, ...) — the message parts are only built on failure.
#define NS_CHECK(cond, ...)            \
  do {                                 \
    if (!(cond)) ::ns::fail(__VA_ARGS__); \
  } while (0)
