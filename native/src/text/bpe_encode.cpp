// BPE encoding of one pre-split chunk: merges applied by rank (earliest learned first, leftmost
// first among equal ranks), which reproduces what training did to the same chunk. Two
// implementations that must agree — passes (reference, short chunks) and a heap (long chunks) —
// plus the chunk cache. Must not split text: chunks arrive already pre-split.
#include <cstring>
#include <queue>

#include "core/error.h"
#include "text/bpe.h"

namespace ns::text {
namespace {

// Chunks up to this many bytes use the pass-based merge (fast for the short words that make up
// almost all text); longer ones use the heap so a pathological chunk stays O(n log n).
constexpr size_t kLongChunkBytes = 64;
// Only chunks this short are cached: longer ones rarely repeat.
constexpr size_t kMaxCachedChunkBytes = 256;
// The cache is cleared when it holds this many chunks (about 100 MB at worst).
constexpr size_t kMaxCachedChunks = size_t(1) << 20;

constexpr uint64_t kOccupied = uint64_t(1) << 63;  // ids are < 2^31, so bit 63 is free

inline uint64_t pair_slot_key(TokenId left, TokenId right) {
  return kOccupied | (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
}

inline uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

size_t next_pow2(size_t n) {
  size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

}  // namespace

uint64_t hash_bytes(const uint8_t* bytes, size_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t(n) * 0x100000001b3ULL);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, bytes + i, 8);
    h = mix64(h ^ w);
  }
  uint64_t tail = 0;
  for (size_t k = 0; i + k < n; ++k) tail |= uint64_t(bytes[i + k]) << (8 * k);
  h = mix64(h ^ tail ^ 0x5bd1e995ULL);
  return h | 1;  // never 0: 0 marks an empty cache slot
}

// ---- chunk cache -----------------------------------------------------------------------------

void ChunkCache::clear_and_resize(size_t capacity) {
  slots_.assign(capacity, Slot{});
  keys_.clear();
  ids_.clear();
  size_ = 0;
}

const TokenId* ChunkCache::find(const uint8_t* bytes, size_t n, uint64_t hash, size_t* len) const {
  if (slots_.empty()) return nullptr;
  const size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.hash == 0) return nullptr;
    if (s.hash == hash && s.key_len == n && std::memcmp(keys_.data() + s.key_offset, bytes, n) == 0) {
      *len = s.ids_len;
      return ids_.data() + s.ids_offset;
    }
  }
}

void ChunkCache::insert(const uint8_t* bytes, size_t n, uint64_t hash, const TokenId* ids, size_t len) {
  if (n > kMaxCachedChunkBytes) return;
  if (slots_.empty() || size_ >= kMaxCachedChunks) clear_and_resize(size_t(1) << 16);
  if (2 * (size_ + 1) > slots_.size()) {
    // Grow to keep the load factor under 1/2: re-place every slot (the arenas stay).
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.size() * 2, Slot{});
    const size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.hash == 0) continue;
      size_t i = s.hash & mask;
      while (slots_[i].hash != 0) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }
  const size_t mask = slots_.size() - 1;
  size_t i = hash & mask;
  while (slots_[i].hash != 0) i = (i + 1) & mask;
  Slot& s = slots_[i];
  s.hash = hash;
  s.key_offset = static_cast<uint32_t>(keys_.size());
  s.key_len = static_cast<uint32_t>(n);
  s.ids_offset = static_cast<uint32_t>(ids_.size());
  s.ids_len = static_cast<uint32_t>(len);
  keys_.insert(keys_.end(), bytes, bytes + n);
  ids_.insert(ids_.end(), ids, ids + len);
  ++size_;
}

// ---- encoder ---------------------------------------------------------------------------------

BpeEncoder::BpeEncoder(std::vector<Merge> merges) : merges_(std::move(merges)) {
  const size_t n = merges_.size();
  NS_CHECK(n < (size_t(1) << 30), "BpeEncoder: ", n, " merges is too many");
  token_bytes_.reserve(kByteVocab + n);
  for (int b = 0; b < kByteVocab; ++b) token_bytes_.push_back(std::string(1, static_cast<char>(b)));
  pair_keys_.assign(next_pow2(2 * n + 2), 0);
  pair_ids_.assign(pair_keys_.size(), -1);
  const size_t mask = pair_keys_.size() - 1;
  for (size_t i = 0; i < n; ++i) {
    const Merge m = merges_[i];
    const TokenId new_id = kByteVocab + static_cast<TokenId>(i);
    NS_CHECK(m.left >= 0 && m.left < new_id && m.right >= 0 && m.right < new_id, "BpeEncoder: merge ", i, " (",
             m.left, ", ", m.right, ") uses an id that does not exist before token ", new_id);
    const uint64_t key = pair_slot_key(m.left, m.right);
    size_t slot = mix64(key) & mask;
    while (pair_keys_[slot] != 0) {
      NS_CHECK(pair_keys_[slot] != key, "BpeEncoder: merge ", i, " (", m.left, ", ", m.right,
               ") repeats an earlier merge");
      slot = (slot + 1) & mask;
    }
    pair_keys_[slot] = key;
    pair_ids_[slot] = new_id;
    token_bytes_.push_back(token_bytes_[static_cast<size_t>(m.left)] + token_bytes_[static_cast<size_t>(m.right)]);
  }
}

TokenId BpeEncoder::merged_id(TokenId left, TokenId right) const {
  const uint64_t key = pair_slot_key(left, right);
  const size_t mask = pair_keys_.size() - 1;
  for (size_t slot = mix64(key) & mask;; slot = (slot + 1) & mask) {
    const uint64_t k = pair_keys_[slot];
    if (k == key) return pair_ids_[slot];
    if (k == 0) return -1;
  }
}

void BpeEncoder::encode_chunk_by_passes(const uint8_t* bytes, size_t n, std::vector<TokenId>& out) const {
  std::vector<TokenId> ids(bytes, bytes + n);
  while (ids.size() >= 2) {
    // The earliest-learned merge present anywhere in the chunk...
    TokenId best = -1;
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      const TokenId id = merged_id(ids[i], ids[i + 1]);
      if (id >= 0 && (best < 0 || id < best)) best = id;
    }
    if (best < 0) break;
    // ...applied to all its occurrences left to right, as training did.
    const Merge m = merges_[static_cast<size_t>(best - kByteVocab)];
    size_t w = 0;
    for (size_t r = 0; r < ids.size();) {
      if (r + 1 < ids.size() && ids[r] == m.left && ids[r + 1] == m.right) {
        ids[w++] = best;
        r += 2;
      } else {
        ids[w++] = ids[r++];
      }
    }
    ids.resize(w);
  }
  out.insert(out.end(), ids.begin(), ids.end());
}

void BpeEncoder::encode_chunk_by_heap(const uint8_t* bytes, size_t n, std::vector<TokenId>& out) const {
  if (n == 0) return;
  std::vector<TokenId> ids(bytes, bytes + n);
  // Doubly linked list over positions; a merged-away position gets ids = -1.
  std::vector<int64_t> prev(n), next(n);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = int64_t(i) - 1;
    next[i] = (i + 1 < n) ? int64_t(i + 1) : -1;
  }
  // Min-heap of (merged id, left position): the earliest merge, then the leftmost occurrence.
  using Entry = std::pair<TokenId, int64_t>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap;
  auto push_pair_at = [&](int64_t pos) {
    if (pos < 0 || next[pos] < 0) return;
    const TokenId id = merged_id(ids[pos], ids[next[pos]]);
    if (id >= 0) heap.push({id, pos});
  };
  for (size_t i = 0; i + 1 < n; ++i) push_pair_at(int64_t(i));
  while (!heap.empty()) {
    const auto [id, pos] = heap.top();
    heap.pop();
    // Stale entries: the position was merged away or its pair changed since the push. A pair's
    // merged id names the pair, so a matching id means the pair is still there.
    if (ids[pos] < 0 || next[pos] < 0 || merged_id(ids[pos], ids[next[pos]]) != id) continue;
    const int64_t gone = next[pos];
    ids[pos] = id;
    ids[gone] = -1;
    next[pos] = next[gone];
    if (next[pos] >= 0) prev[next[pos]] = pos;
    push_pair_at(prev[pos]);
    push_pair_at(pos);
  }
  for (int64_t i = 0; i >= 0; i = next[i]) out.push_back(ids[i]);
}

void BpeEncoder::encode_chunk(const uint8_t* bytes, size_t n, std::vector<TokenId>& out) {
  if (n == 0) return;
  if (n == 1) {
    out.push_back(bytes[0]);
    return;
  }
  const uint64_t hash = hash_bytes(bytes, n);
  size_t len = 0;
  if (const TokenId* hit = cache_.find(bytes, n, hash, &len)) {
    out.insert(out.end(), hit, hit + len);
    return;
  }
  const size_t start = out.size();
  if (n <= kLongChunkBytes)
    encode_chunk_by_passes(bytes, n, out);
  else
    encode_chunk_by_heap(bytes, n, out);
  cache_.insert(bytes, n, hash, out.data() + start, out.size() - start);
}

}  // namespace ns::text
