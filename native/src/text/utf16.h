// UTF-16 (a JS string's code units) to UTF-8, for chunks whose boundaries JS found in UTF-16
// units. Lone surrogates become U+FFFD (EF BF BD), exactly as TextEncoder writes them, so the
// bytes native code encodes are the bytes `new TextEncoder().encode(text)` would give.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ns::text {

// Appends the UTF-8 form of units [begin, end) of s to out. A surrogate pair split by the range
// boundary counts as two lone surrogates (the split regex never splits a pair).
inline void append_utf8(const char16_t* s, size_t begin, size_t end, std::string& out) {
  for (size_t i = begin; i < end; ++i) {
    uint32_t c = s[i];
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      continue;
    }
    if (c >= 0xD800 && c <= 0xDBFF && i + 1 < end && s[i + 1] >= 0xDC00 && s[i + 1] <= 0xDFFF) {
      c = 0x10000 + ((c - 0xD800) << 10) + (uint32_t(s[i + 1]) - 0xDC00);
      ++i;
    } else if (c >= 0xD800 && c <= 0xDFFF) {
      c = 0xFFFD;
    }
    if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (c >> 18)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
}

}  // namespace ns::text
